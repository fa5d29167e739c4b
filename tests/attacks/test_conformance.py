"""One conformance suite for every registered attack (parametrised from the registry).

A new attack module is picked up by :func:`default_registry` and must pass every check here:
shape and dtype, determinism and purity, permutation equivariance, the NaN policy for empty
and one-token samples, reading exactly the signals it declared, higher = member on a leaky
synthetic fixture, and keyword-only hyperparameters with defaults and typo suggestions.

Synthetic tables are built for every (model, context) the attack declares, with independent
ragged lengths per table (a reference model may use another tokenizer). Every synthetic view
also carries every known *extra* (:data:`EXTRA_BUILDERS`); an attack declaring an extra that
has no builder here fails loudly until one is added.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from miakit.attacks import AttackSpec, SignalView, default_registry
from miakit.attacks._base import PerSample
from miakit.errors import InvalidParameterError, MissingSignalError
from miakit.signals.spec import MODEL_ROLES, PAIRED_STATS, TOKEN_STATS, SignalRef, split_role
from miakit.signals.table import TokenSignals

REGISTRY = default_registry()
NAMES = REGISTRY.names()
TEXT_REF = SignalRef.parse("text")
FALLBACK_REASON = "the attack returned NaN without a reason"  # AttackOutput's default
#: Tables every synthetic view carries, declared or not (undeclared ones must go unread).
ALL_KEYS = (
    ("target", "plain"),
    ("target", "lowercase"),
    ("reference", "plain"),
    ("performer", "plain"),
    ("performer@observer", "plain"),
    ("target@sampling", "plain"),
    ("target", "recall_nonmember"),
    ("target", "recall_member"),
)
#: A paired table ("p@q") is tokenized by p: it has the token counts of p's table.
SAME_TOKENS_AS = {
    ("performer@observer", "plain"): ("performer", "plain"),
    ("target@sampling", "plain"): ("target", "plain"),
}
#: Tables whose statistics carry the membership signal in :func:`leaky_synth` (the performer
#: stands for the target, as it does by default).
LEAKY_KEYS = (("target", "plain"), ("performer", "plain"))
#: Label-independent shifts of token_log_prob per table in :func:`leaky_synth`: a member
#: prefix raises every text's log-likelihood (Con-ReCall contrasts it with the unshifted
#: non-member prefix).
LEAKY_OFFSETS = {("target", "recall_member"): 0.7}
#: Synthetic token ids lie in [0, VOCAB); the synthetic frequency table has VOCAB entries.
VOCAB = 50_000
ALPHABET = list("abcdefghij klmnopqrsXYZ.,;éüßñ漢字🙂\n")

Rows = dict[tuple[str, str], dict[str, list[np.ndarray]]]


def _spec(name: str) -> AttackSpec:
    return REGISTRY.get(name)


def _keys(spec: AttackSpec) -> list[tuple[str, str]]:
    return sorted({(r.model, r.context) for r in spec.needs if not r.is_text})


def _random_text(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(ALPHABET, size=length))


def _stats_of(key: tuple[str, str]) -> tuple[str, ...]:
    """The statistics a table of ``key`` holds: paired ones for a paired role."""
    return PAIRED_STATS if len(split_role(key[0])) == 2 else TOKEN_STATS


def _random_stats(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    var = rng.exponential(1.0, length)
    var[rng.random(length) < 0.05] = 0.0  # some one-hot positions (sigma = 0)
    cross_mean = -rng.exponential(1.5, length)
    cross_var = rng.exponential(1.0, length)
    cross_var[rng.random(length) < 0.05] = 0.0
    return {
        "token_log_prob": -rng.exponential(2.0, length),
        "mean_log_prob": -rng.exponential(1.5, length),
        "var_log_prob": var,
        "token_rank": rng.integers(0, 5000, length).astype(np.float64),
        "token_id": rng.integers(0, 50_000, length).astype(np.float64),
        "cross_mean_log_prob": cross_mean,
        "cross_second_moment": cross_mean**2 + cross_var,
    }


def _random_neighbour_nll(rng: np.random.Generator, n: int) -> PerSample:
    values = rng.uniform(0.5, 6.0, n)
    values[rng.random(n) < 0.1] = np.nan  # some samples without neighbours
    return PerSample.of(
        values, ["no neighbour (synthetic)" if np.isnan(v) else None for v in values]
    )


def _leaky_neighbour_nll(rng: np.random.Generator, n: int) -> PerSample:
    # label-independent: members' own NLL is lower (leaky_synth), so their gap is larger
    return PerSample.of(rng.normal(1.7, 0.05, n))


#: extra name -> (random builder, leaky builder), each ``(rng, n_samples) -> value``.
EXTRA_BUILDERS: dict[str, tuple[Callable[[np.random.Generator, int], Any], ...]] = {
    # a Dirichlet draw is a proper distribution; the leaky table has frequencies near 1 so
    # that DC-PDD's alpha = p * log(1/f) stays mostly below its clip a = 0.01 and follows p
    "token_frequency": (
        lambda rng, n: rng.dirichlet(np.ones(VOCAB)),
        lambda rng, n: rng.uniform(0.95, 0.9999, VOCAB),
    ),
    "neighbor_nll": (_random_neighbour_nll, _leaky_neighbour_nll),
    "neighbor_nll_causal": (_random_neighbour_nll, _leaky_neighbour_nll),
}


def _extras(rng: np.random.Generator, n: int, *, leaky: bool = False) -> dict[str, Any]:
    return {name: build[int(leaky)](rng, n) for name, build in EXTRA_BUILDERS.items()}


def _take_extras(extras: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
    return {k: v.take(index) if isinstance(v, PerSample) else v for k, v in extras.items()}


def _table(stats_rows: dict[str, list[np.ndarray]], keep: Iterable[str]) -> TokenSignals:
    keep = list(keep)
    first = stats_rows[keep[0]]
    offsets = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in first], out=offsets[1:])
    flat = {s: np.concatenate([np.zeros(0), *stats_rows[s]]).astype(np.float32) for s in keep}
    n = len(first)
    return TokenSignals(
        offsets=offsets,
        stats=flat,
        truncated=np.zeros(n, dtype=bool),
        n_text_tokens=np.diff(offsets) + 1,
    )


@dataclass
class Synth:
    """Per-sample rows for every table in :data:`ALL_KEYS`, the raw texts and the extras."""

    rows: Rows
    texts: list[str]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.texts)

    def view(
        self, allowed: Iterable[SignalRef] | None = None, extras: Iterable[str] | None = None
    ) -> SignalView:
        """All tables and stats, or only those in ``allowed`` (absent tables left out); all
        extras, or only those named in ``extras``."""
        allowed_set = set(allowed) if allowed is not None else None
        tables = {}
        for key, stats in self.rows.items():
            keep = [
                s
                for s in stats
                if allowed_set is None or SignalRef(s, model=key[0], context=key[1]) in allowed_set
            ]
            if keep:
                tables[key] = _table(stats, keep)
        texts = self.texts if allowed_set is None or TEXT_REF in allowed_set else None
        keep_extras = set(self.extras) if extras is None else set(extras)
        given = {k: v for k, v in self.extras.items() if k in keep_extras}
        return SignalView(tables, texts, n_samples=self.n, extras=given)

    def insert(self, position: int, lengths: dict[tuple[str, str], int], text: str) -> Synth:
        """A copy with one sample inserted; ``lengths`` gives its token count per table."""
        rng = np.random.default_rng(123)
        rows: Rows = {}
        for key, stats in self.rows.items():
            new = _random_stats(rng, lengths[key])
            rows[key] = {s: [*r[:position], new[s], *r[position:]] for s, r in stats.items()}
        extras = {
            k: PerSample(
                np.insert(v.values, position, 3.0),
                (*v.reasons[:position], None, *v.reasons[position:]),
            )
            if isinstance(v, PerSample)
            else v
            for k, v in self.extras.items()
        }
        return Synth(rows, [*self.texts[:position], text, *self.texts[position:]], extras)

    def replace(self, key: tuple[str, str], stat: str, value: float) -> Synth:
        rows = {k: dict(v) for k, v in self.rows.items()}
        rows[key][stat] = [np.full(len(r), value) for r in rows[key][stat]]
        return Synth(rows, self.texts, self.extras)


def random_synth(seed: int, n: int = 40) -> Synth:
    rng = np.random.default_rng(seed)
    base = rng.integers(2, 80, n)
    base[rng.choice(n, size=4, replace=False)] = rng.integers(500, 3000, 4)  # some long ones
    base[rng.choice(n, size=4, replace=False)] = rng.integers(2, 5, 4)  # some short ones
    rows: Rows = {}
    counts: dict[tuple[str, str], np.ndarray] = {}
    for key in ALL_KEYS:
        lengths = np.maximum(base + rng.integers(-2, 3, n), 2)  # another tokenizer's counts
        if key in SAME_TOKENS_AS:
            lengths = counts[SAME_TOKENS_AS[key]]
        counts[key] = lengths
        per_sample = [_random_stats(rng, int(L)) for L in lengths]
        rows[key] = {s: [p[s] for p in per_sample] for s in _stats_of(key)}
    texts = [_random_text(rng, int(rng.integers(1, 400))) for _ in range(n)]
    return Synth(rows, texts, _extras(rng, n))


def leaky_synth(seed: int, n: int = 200) -> tuple[Synth, np.ndarray]:
    """Members' target/plain log-probs are shifted up by 1.0 (and their next-token
    distributions are more confident); nothing else depends on labels.

    Base log-probs are ``−1 − Exp(0.7)`` (so shifted ones stay <= 0); the lowercase context
    and the reference model are *not* shifted; members' mean_log_prob is 0.3 higher (lower
    entropy) and var_log_prob does not depend on membership, so ``z = (ℓ − μ)/σ`` shifts up
    by ``0.7/σ``; members' ranks are smaller. The performer (the target by default) leaks
    like the target. Paired tables (``p@q``) have ``p``'s token counts and do not depend on
    membership. Texts have near-constant length, so their zlib size carries no label
    information. The member-prefix context (``recall_member``) is shifted up by 0.7 for
    everyone (:data:`LEAKY_OFFSETS`), the non-member prefix not at all. Extras do not depend on
    membership (:data:`EXTRA_BUILDERS`).
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, size=n // 2, replace=False)] = 1
    rows: Rows = {}
    counts: dict[tuple[str, str], list[int]] = {}
    for key in ALL_KEYS:
        per_sample = []
        counts[key] = []
        for i, label in enumerate(labels):
            if key in SAME_TOKENS_AS:
                length = counts[SAME_TOKENS_AS[key]][i]
            else:
                length = int(rng.integers(40, 120))
            counts[key].append(length)
            leaks = key in LEAKY_KEYS and label
            shift = 1.0 if leaks else 0.0
            rank_scale = 2.0 if leaks else 20.0
            cross_mean = -rng.uniform(1.0, 3.0, length)
            per_sample.append(
                {
                    "token_log_prob": -1.0
                    - rng.exponential(0.7, length)
                    + shift
                    + LEAKY_OFFSETS.get(key, 0.0),
                    "mean_log_prob": -rng.uniform(1.0, 3.0, length) + 0.3 * shift,
                    "var_log_prob": rng.uniform(0.25, 4.0, length),
                    "token_rank": np.floor(rng.exponential(rank_scale, length)),
                    "token_id": rng.integers(0, 50_000, length).astype(np.float64),
                    "cross_mean_log_prob": cross_mean,
                    "cross_second_moment": cross_mean**2 + rng.uniform(0.25, 4.0, length),
                }
            )
        rows[key] = {s: [p[s] for p in per_sample] for s in _stats_of(key)}
    texts = [_random_text(rng, int(rng.integers(200, 221))) for _ in range(n)]
    return Synth(rows, texts, _extras(rng, n, leaky=True)), labels


def _assert_same(a, b) -> None:
    """Scores equal up to float rounding, NaN where NaN; reasons identical."""
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-12, atol=0, equal_nan=True)
    assert a.reasons == b.reasons


def _assert_valid_reasons(out) -> None:
    for score, reason in zip(out.scores, out.reasons, strict=True):
        if np.isnan(score):
            assert reason and reason != FALLBACK_REASON, "NaN needs a specific reason"
        else:
            assert reason is None


def test_registry_discovers_the_attacks() -> None:
    expected = {
        "loss",
        "zlib",
        "lowercase",
        "min_k",
        "win_k",
        "min_k_plus_plus",
        "reference",
        "reference_ratio",
        "entropy",
        "rank",
        "log_rank",
        "binoculars",
        "fast_detectgpt",
        "fast_detectgpt_ref",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_signature(name: str) -> None:
    spec = _spec(name)
    assert spec.func.__module__ == f"miakit.attacks.{name}", "module name = attack name"
    assert re.fullmatch(r"\d{4}\.\d{4,5}", spec.paper), spec.paper
    doc = inspect.getdoc(spec.func) or ""
    assert spec.summary and spec.paper in doc
    assert spec.needs and all(
        r.is_text or set(split_role(r.model)) <= set(MODEL_ROLES) for r in spec.needs
    )
    params = list(inspect.signature(spec.func).parameters.values())
    assert params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
    for p in params[1:]:
        assert p.kind is p.KEYWORD_ONLY and p.default is not p.empty
        assert p.name in doc, f"hyperparameter {p.name} is not documented"


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_determinism_purity(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(1)
    view = synth.view()
    tables = {key: view.table(model=key[0], context=key[1]) for key in ALL_KEYS}
    before = {key: {s: v.copy() for s, v in t.stats.items()} for key, t in tables.items()}
    out = spec(view)
    assert out.scores.shape == (synth.n,) and out.scores.dtype == np.float64
    assert len(out.reasons) == synth.n
    _assert_valid_reasons(out)
    assert np.isfinite(out.scores).sum() >= synth.n // 2  # only short samples may be NaN
    again = spec(view)
    np.testing.assert_array_equal(out.scores, again.scores)  # bit-identical, NaN == NaN
    assert out.reasons == again.reasons
    for key, stats in before.items():  # the attack did not write into the signal table
        for s, v in stats.items():
            np.testing.assert_array_equal(tables[key].stats[s], v)
    np.testing.assert_array_equal(spec(view, **spec.params).scores, out.scores)


@pytest.mark.parametrize("name", NAMES)
def test_zero_samples(name: str) -> None:
    empty = Synth(
        {k: {s: [] for s in _stats_of(k)} for k in ALL_KEYS},
        [],
        _extras(np.random.default_rng(0), 0),
    )
    out = _spec(name)(empty.view())
    assert out.scores.shape == (0,) and out.scores.dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
def test_permutation_equivariance(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(2)
    view = synth.view()
    perm = np.random.default_rng(0).permutation(synth.n)
    permuted = SignalView(
        {key: view.table(model=key[0], context=key[1]).take(perm) for key in ALL_KEYS},
        [synth.texts[i] for i in perm],
        extras=_take_extras(synth.extras, perm),
    )
    out, out_perm = spec(view), spec(permuted)
    np.testing.assert_allclose(out_perm.scores, out.scores[perm], rtol=1e-12, equal_nan=True)
    assert out_perm.reasons == tuple(out.reasons[i] for i in perm)


@pytest.mark.parametrize("name", NAMES)
def test_nan_policy_empty_and_one_token(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(3)
    base = spec(synth.view())
    with_short = synth.insert(5, dict.fromkeys(ALL_KEYS, 0), "").insert(
        11, dict.fromkeys(ALL_KEYS, 1), "a"
    )
    out = spec(with_short.view())
    _assert_valid_reasons(out)
    assert np.isnan(out.scores[5]) and out.reasons[5]
    # One scored token: either a finite score or NaN with a reason (checked above), no crash.
    others = np.setdiff1d(np.arange(with_short.n), [5, 11])
    np.testing.assert_allclose(out.scores[others], base.scores, rtol=1e-12, equal_nan=True)
    assert tuple(out.reasons[i] for i in others) == base.reasons


@pytest.mark.parametrize("name", NAMES)
def test_nan_when_any_declared_table_is_empty(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(4)
    for key in _keys(spec):
        lengths = dict.fromkeys(ALL_KEYS, 50)
        lengths[key] = 0
        out = spec(synth.insert(0, lengths, "some text").view())
        _assert_valid_reasons(out)
        assert np.isnan(out.scores[0]), f"0 tokens in {key} must give NaN"


@pytest.mark.parametrize("name", NAMES)
def test_reads_only_declared_signals(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(5)
    # tables hold ONLY the declared signals, and only the declared extras are given
    minimal = synth.view(allowed=spec.needs, extras=spec.extras)
    _assert_same(spec(minimal), spec(synth.view()))
    for ref in spec.needs:  # and each declared signal is actually read
        fewer = synth.view().restrict([r for r in spec.needs if r != ref], extras=spec.extras)
        with pytest.raises(MissingSignalError):
            spec.func(fewer, **spec.params)
    for extra in spec.extras:  # and so is each declared extra
        fewer = synth.view().restrict(spec.needs, extras=[e for e in spec.extras if e != extra])
        with pytest.raises(MissingSignalError, match="not declared"):
            spec.func(fewer, **spec.params)


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_signal_matters(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(6)
    base = spec(synth.view())
    for ref in spec.needs:
        if ref.is_text:
            rng = np.random.default_rng(7)
            changed = Synth(
                synth.rows,
                [_random_text(rng, int(rng.integers(1, 2000))) for _ in synth.texts],
                synth.extras,
            )
        else:
            changed = synth.replace((ref.model, ref.context), ref.stat, np.nan)
        out = spec(changed.view())
        _assert_valid_reasons(out)
        assert not np.array_equal(out.scores, base.scores, equal_nan=True), f"{ref} is unused"


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_extra_matters(name: str) -> None:
    spec = _spec(name)
    synth = random_synth(6)
    base = spec(synth.view())
    for extra in spec.extras:
        assert extra in EXTRA_BUILDERS, f"add a synthetic builder for extra {extra!r}"
        value = synth.extras[extra]
        if isinstance(value, PerSample):
            corrupt: Any = PerSample.of(np.full(len(value), np.nan), ["corrupt"] * len(value))
        else:
            corrupt = np.full_like(np.asarray(value, dtype=np.float64), np.nan)
        out = spec(Synth(synth.rows, synth.texts, {**synth.extras, extra: corrupt}).view())
        _assert_valid_reasons(out)
        assert not np.array_equal(out.scores, base.scores, equal_nan=True), f"{extra} is unused"


def test_undeclared_extras_cannot_be_read() -> None:
    view = random_synth(9, n=5).view()
    assert set(view.extras) == set(EXTRA_BUILDERS)  # an unrestricted view offers all
    narrow = view.restrict([SignalRef.parse("token_log_prob")])
    assert not list(narrow.extras)
    for name in EXTRA_BUILDERS:
        with pytest.raises(MissingSignalError, match="not declared"):
            narrow.extras[name]
    with pytest.raises(MissingSignalError, match="not provided"):
        view.extras["no_such_extra"]


@pytest.mark.parametrize("name", NAMES)
def test_higher_score_is_member(name: str) -> None:
    synth, labels = leaky_synth(8)
    out = _spec(name)(synth.view())
    assert not np.isnan(out.scores).any()
    assert roc_auc_score(labels, out.scores) > 0.9


@pytest.mark.parametrize("name", NAMES)
def test_unknown_hyperparameters_are_errors(name: str) -> None:
    spec = _spec(name)
    view = random_synth(9, n=5).view()
    with pytest.raises(InvalidParameterError, match="has no hyperparameter 'no_such_param'"):
        spec(view, no_such_param=1)
    for param, default in spec.params.items():
        typo = param + param[-1]
        with pytest.raises(InvalidParameterError, match=f"Did you mean '{param}'"):
            spec(view, **{typo: default})
        with pytest.raises(InvalidParameterError, match="Did you mean"):
            spec.check_params({typo: default})
