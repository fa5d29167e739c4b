"""Synthetic signal tables for the conformance checks: random ones and a leaky one.

A :class:`Synth` holds per-sample rows of every statistic for every ``(model, context)`` table
an attack could read (:data:`ALL_KEYS`, plus any other table the attack declares), the raw
texts and the *extras*. Tables have independent ragged lengths (a reference model may use
another tokenizer), except that a paired table ``"p@q"`` has ``p``'s token counts.

Extras are built by :data:`EXTRA_BUILDERS`: ``name -> (random builder, leaky builder)``, each
``(rng, n_samples) -> value``. An attack that declares an extra miakit does not know passes
its own builders (``extra_builders=`` of :func:`miakit.testing.check_attack`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from miakit.attacks import AttackSpec, PerSample, SignalView
from miakit.attacks.dc_pdd import FREQUENCY_EXTRA
from miakit.attacks.gradnorm import GRAD_EXTRA, GradNorms
from miakit.attacks.neighborhood import NEIGHBOR_EXTRA
from miakit.attacks.neighborhood_causal import CAUSAL_NEIGHBOR_EXTRA
from miakit.attacks.pac import PAC_EXTRA, AugmentedLogProbs
from miakit.attacks.whitebox import MODEL_EXTRA, TOKEN_FEATURES, WhiteboxModel
from miakit.signals.spec import PAIRED_STATS, TOKEN_STATS, SignalRef, split_role
from miakit.signals.table import TokenSignals
from miakit.testing import _augmented

Key = tuple[str, str]
Rows = dict[Key, dict[str, list[np.ndarray]]]
#: ``(rng, n_samples) -> value`` of one extra (a :class:`PerSample`, or an array such as a
#: token-frequency table that does not depend on the samples).
ExtraBuilder = Callable[[np.random.Generator, int], Any]

TEXT_REF = SignalRef.parse("text")
#: Tables every synthetic view carries, declared or not (undeclared ones must go unread).
ALL_KEYS: tuple[Key, ...] = (
    ("target", "plain"),
    ("target", "lowercase"),
    ("reference", "plain"),
    ("performer", "plain"),
    ("performer@observer", "plain"),
    ("target@sampling_model", "plain"),
    ("target", "recall_nonmember"),
    ("target", "recall_member"),
)
#: Tables whose statistics carry the membership signal in :func:`leaky_synth` (the performer
#: stands for the target, as it does by default).
LEAKY_KEYS: tuple[Key, ...] = (("target", "plain"), ("performer", "plain"))
#: Label-independent shifts of token_log_prob per table in :func:`leaky_synth`: a member
#: prefix raises every text's log-likelihood (Con-ReCall contrasts it with the unshifted
#: non-member prefix).
LEAKY_OFFSETS: Mapping[Key, float] = {("target", "recall_member"): 0.7}
#: Synthetic token ids lie in [0, VOCAB); the synthetic frequency table has VOCAB entries.
VOCAB = 50_000
ALPHABET = list("abcdefghij klmnopqrsXYZ.,;éüßñ漢字🙂\n")


def _random_neighbor_nll(rng: np.random.Generator, n: int) -> PerSample:
    values = rng.uniform(0.5, 6.0, n)
    values[rng.random(n) < 0.1] = np.nan  # some samples without neighbors
    return PerSample.of(
        values, ["no neighbor (synthetic)" if np.isnan(v) else None for v in values]
    )


def _leaky_neighbor_nll(rng: np.random.Generator, n: int) -> PerSample:
    # label-independent: members' own NLL is lower (leaky_synth), so their gap is larger
    return PerSample.of(rng.normal(1.7, 0.05, n))


def _grad_norms(rng: np.random.Generator, n: int, scale: np.ndarray | float = 1.0) -> GradNorms:
    """Per-group L1/L2/L∞ norms of 3 groups, consistent with one another (L∞ <= L2 <= L1)."""
    l2 = rng.lognormal(0.0, 0.3, (n, 3)) * np.reshape(scale, (-1, 1))
    l1 = l2 * rng.uniform(5.0, 20.0, (n, 3))
    linf = l2 * rng.uniform(0.05, 0.5, (n, 3))
    total = np.sqrt((l2**2).sum(axis=1))
    tokens = rng.integers(2, 80, n)
    return GradNorms(total, (None,) * n, ("embeddings", "layers.0", "head"), l1, l2, linf, tokens)


def _random_grad_norms(rng: np.random.Generator, n: int) -> GradNorms:
    return _grad_norms(rng, n)


def _leaky_grad_norms(rng: np.random.Generator, n: int) -> GradNorms:
    # label-independent here; leaky_synth shrinks the members' norms (GRAD_EXTRA is the one
    # extra that carries the membership signal by itself: no table holds gradients)
    return _grad_norms(rng, n)


def _whitebox_model(coef: np.ndarray) -> WhiteboxModel:
    """A classifier of the token features (standardised around typical synthetic values)."""
    f = len(TOKEN_FEATURES)
    return WhiteboxModel(TOKEN_FEATURES, np.full(f, -2.0), np.ones(f), coef, 0.0)


def _random_whitebox(rng: np.random.Generator, n: int) -> WhiteboxModel:
    return _whitebox_model(rng.normal(0.0, 1.0, len(TOKEN_FEATURES)))


def _leaky_whitebox(rng: np.random.Generator, n: int) -> WhiteboxModel:
    # fitted on labelled data elsewhere: the mean log-likelihood is what separates members
    return _whitebox_model(np.eye(len(TOKEN_FEATURES))[0])


def insert_extra(value: Any, position: int, n_tokens: int) -> Any:
    """``value`` with one sample inserted before ``position`` (per-sample extras only): a
    finite value, and for :class:`GradNorms` the new sample's ``n_tokens`` scored tokens."""
    if isinstance(value, GradNorms):
        row = GradNorms(
            np.array([3.0]), (None,), value.layers, *(np.full((1, len(value.layers)), 3.0),) * 3,
            np.array([n_tokens]),
        )  # fmt: skip
        return value.inserted(position, row)
    if isinstance(value, AugmentedLogProbs):
        return value.inserted(position, _augmented.one_row(n_tokens))
    if isinstance(value, PerSample):
        return PerSample(
            np.insert(value.values, position, 3.0),
            (*value.reasons[:position], None, *value.reasons[position:]),
        )
    return value


#: extra name -> (random builder, leaky builder), each ``(rng, n_samples) -> value``, for the
#: extras of miakit's attacks (named by the constants of the attack modules, so that they
#: follow a rename). The order is the order of the random draws.
EXTRA_BUILDERS: Mapping[str, tuple[ExtraBuilder, ExtraBuilder]] = {
    # a Dirichlet draw is a proper distribution; the leaky table has frequencies near 1 so
    # that DC-PDD's alpha = p * log(1/f) stays mostly below its clip a = 0.01 and follows p
    FREQUENCY_EXTRA: (
        lambda rng, n: rng.dirichlet(np.ones(VOCAB)),
        lambda rng, n: rng.uniform(0.95, 0.9999, VOCAB),
    ),
    NEIGHBOR_EXTRA: (_random_neighbor_nll, _leaky_neighbor_nll),
    CAUSAL_NEIGHBOR_EXTRA: (_random_neighbor_nll, _leaky_neighbor_nll),
    GRAD_EXTRA: (_random_grad_norms, _leaky_grad_norms),
    PAC_EXTRA: (_augmented.random_augmented, _augmented.leaky_augmented),
    MODEL_EXTRA: (_random_whitebox, _leaky_whitebox),
}

Builders = Mapping[str, tuple[ExtraBuilder, ExtraBuilder]]


def declared_keys(spec: AttackSpec) -> list[Key]:
    """The ``(model, context)`` tables ``spec`` declares, sorted."""
    return sorted({(r.model, r.context) for r in spec.needs if not r.is_text})


def synthetic_keys(spec: AttackSpec | None = None) -> tuple[Key, ...]:
    """:data:`ALL_KEYS`, then any other table ``spec`` declares (a new context or role)."""
    extra = [k for k in declared_keys(spec) if k not in ALL_KEYS] if spec is not None else []
    return (*ALL_KEYS, *extra)


def builders_for(spec: AttackSpec, extra_builders: Builders | None = None) -> dict[str, Any]:
    """miakit's :data:`EXTRA_BUILDERS` updated by ``extra_builders``.

    Raises:
        AssertionError: ``spec`` declares an extra that no builder makes.
    """
    builders = {**EXTRA_BUILDERS, **(extra_builders or {})}
    missing = [e for e in spec.extras if e not in builders]
    if missing:
        raise AssertionError(
            f"attack {spec.name!r} declares extras {missing} that miakit.testing cannot "
            "build: pass extra_builders={name: (random_builder, leaky_builder)}, each "
            "(rng, n_samples) -> value, to check_attack / parametrize_with_checks"
        )
    return builders


def _same_tokens_as(key: Key, known: Iterable[Key]) -> Key | None:
    """A paired table ``("p@q", c)`` is tokenized by ``p``: it has the counts of ``(p, c)``."""
    roles = split_role(key[0])
    base = (roles[0], key[1])
    return base if len(roles) == 2 and base in set(known) else None


def random_text(rng: np.random.Generator, length: int) -> str:
    return "".join(rng.choice(ALPHABET, size=length))


def stats_of(key: Key) -> tuple[str, ...]:
    """The statistics a table of ``key`` holds: paired ones for a paired role."""
    return PAIRED_STATS if len(split_role(key[0])) == 2 else TOKEN_STATS


def random_stats(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    """Every statistic for ``length`` tokens, with some one-hot positions (sigma = 0)."""
    var = rng.exponential(1.0, length)
    var[rng.random(length) < 0.05] = 0.0
    cross_mean = -rng.exponential(1.5, length)
    cross_var = rng.exponential(1.0, length)
    cross_var[rng.random(length) < 0.05] = 0.0
    return {
        "token_log_prob": -rng.exponential(2.0, length),
        "mean_log_prob": -rng.exponential(1.5, length),
        "var_log_prob": var,
        "token_rank": rng.integers(0, 5000, length).astype(np.float64),
        "token_id": rng.integers(0, VOCAB, length).astype(np.float64),
        "cross_mean_log_prob": cross_mean,
        "cross_second_moment": cross_mean**2 + cross_var,
        # no draw of its own (the other tables' random values stay as they were): -Exp(2)
        "cross_token_log_prob": cross_mean * (2.0 / 1.5),
    }


def build_extras(
    rng: np.random.Generator, n: int, builders: Builders, *, leaky: bool = False
) -> dict[str, Any]:
    """One value per extra, drawn in ``builders``' order."""
    return {name: build[int(leaky)](rng, n) for name, build in builders.items()}


def take_extras(extras: Mapping[str, Any], index: np.ndarray) -> dict[str, Any]:
    """Per-sample extras reordered by ``index``; the others unchanged."""
    return {k: v.take(index) if isinstance(v, PerSample) else v for k, v in extras.items()}


def _table(stats_rows: Mapping[str, Sequence[np.ndarray]], keep: Iterable[str]) -> TokenSignals:
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
    """Per-sample rows for every synthetic table, the raw texts and the extras."""

    rows: Rows
    texts: list[str]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.texts)

    @classmethod
    def empty(cls, keys: Iterable[Key], extras: dict[str, Any]) -> Synth:
        """Zero samples in every table (``extras`` built for ``n = 0``)."""
        return cls({k: {s: [] for s in stats_of(k)} for k in keys}, [], extras)

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

    def insert(self, position: int, lengths: Mapping[Key, int], text: str) -> Synth:
        """A copy with one sample inserted; ``lengths`` gives its token count per table."""
        rng = np.random.default_rng(123)
        rows: Rows = {}
        for key, stats in self.rows.items():
            new = random_stats(rng, lengths[key])
            rows[key] = {s: [*r[:position], new[s], *r[position:]] for s, r in stats.items()}
        n_tokens = lengths.get(("target", "plain"), 1)
        extras = {k: insert_extra(v, position, n_tokens) for k, v in self.extras.items()}
        return Synth(rows, [*self.texts[:position], text, *self.texts[position:]], extras)

    def replace(self, key: Key, stat: str, value: float) -> Synth:
        """A copy where every token of ``stat`` in table ``key`` is ``value``."""
        rows = {k: dict(v) for k, v in self.rows.items()}
        rows[key][stat] = [np.full(len(r), value) for r in rows[key][stat]]
        return Synth(rows, self.texts, self.extras)

    def with_texts(self, texts: list[str]) -> Synth:
        return Synth(self.rows, texts, self.extras)

    def with_extra(self, name: str, value: Any) -> Synth:
        return Synth(self.rows, self.texts, {**self.extras, name: value})


def random_synth(
    seed: int,
    n: int = 40,
    *,
    keys: Sequence[Key] = ALL_KEYS,
    builders: Builders = EXTRA_BUILDERS,
) -> Synth:
    """Random tables for ``n`` samples: mostly 2-80 tokens, 4 long (500-3000) and 4 short ones
    (2-4); each table's counts differ by up to 2 tokens (another tokenizer's)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(2, 80, n)
    base[rng.choice(n, size=4, replace=False)] = rng.integers(500, 3000, 4)  # some long ones
    base[rng.choice(n, size=4, replace=False)] = rng.integers(2, 5, 4)  # some short ones
    rows: Rows = {}
    counts: dict[Key, np.ndarray] = {}
    for key in keys:
        lengths = np.maximum(base + rng.integers(-2, 3, n), 2)  # another tokenizer's counts
        same = _same_tokens_as(key, counts)
        if same is not None:
            lengths = counts[same]
        counts[key] = lengths
        per_sample = [random_stats(rng, int(L)) for L in lengths]
        rows[key] = {s: [p[s] for p in per_sample] for s in stats_of(key)}
    texts = [random_text(rng, int(rng.integers(1, 400))) for _ in range(n)]
    return Synth(rows, texts, build_extras(rng, n, builders))


def leaky_synth(
    seed: int,
    n: int = 200,
    *,
    keys: Sequence[Key] = ALL_KEYS,
    builders: Builders = EXTRA_BUILDERS,
) -> tuple[Synth, np.ndarray]:
    """Members' target/plain log-probs are shifted up by 1.0 (and their next-token
    distributions are more confident); nothing else depends on labels.

    Base log-probs are ``−1 − Exp(0.7)`` (so shifted ones stay <= 0); the lowercase context
    and the reference model are *not* shifted; members' mean_log_prob is 0.3 higher (lower
    entropy) and var_log_prob does not depend on membership, so ``z = (ℓ − μ)/σ`` shifts up
    by ``0.7/σ``; members' ranks are smaller. The performer (the target by default) leaks
    like the target (:data:`LEAKY_KEYS`). Paired tables (``p@q``) have ``p``'s token counts
    and do not depend on membership. Texts have near-constant length, so their zlib size
    carries no label information. The member-prefix context (``recall_member``) is shifted up
    by 0.7 for everyone (:data:`LEAKY_OFFSETS`), the non-member prefix not at all. Extras do
    not depend on membership (the leaky builders of :data:`EXTRA_BUILDERS`), except the
    gradient norms (``grad_norms``), which no table carries: members' are halved; nor do tables
    outside :data:`ALL_KEYS`.

    Returns:
        The synthetic tables and the labels, shape ``(n,)``, 1 = member.
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.choice(n, size=n // 2, replace=False)] = 1
    rows: Rows = {}
    counts: dict[Key, list[int]] = {}
    for key in keys:
        per_sample = []
        same = _same_tokens_as(key, counts)
        counts[key] = []
        for i, label in enumerate(labels):
            length = counts[same][i] if same is not None else int(rng.integers(40, 120))
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
                    "token_id": rng.integers(0, VOCAB, length).astype(np.float64),
                    "cross_mean_log_prob": cross_mean,
                    "cross_second_moment": cross_mean**2 + rng.uniform(0.25, 4.0, length),
                    # the reference's log-prob of the token: -1 - Exp(0.7) like an unshifted
                    # token_log_prob, from cross_mean's uniform draw (no draw of its own)
                    "cross_token_log_prob": -1.0 + 0.7 * np.log((3.0 + cross_mean) / 2.0),
                }
            )
        rows[key] = {s: [p[s] for p in per_sample] for s in stats_of(key)}
    texts = [random_text(rng, int(rng.integers(200, 221))) for _ in range(n)]
    extras = build_extras(rng, n, builders, leaky=True)
    grads = extras.get(GRAD_EXTRA)
    if isinstance(grads, GradNorms):  # a smaller gradient for members (arXiv 2402.07841)
        half = np.where(labels == 1, 0.5, 1.0)
        extras[GRAD_EXTRA] = GradNorms(
            grads.values * half, grads.reasons, grads.layers, grads.l1 * half[:, None],
            grads.l2 * half[:, None], grads.linf * half[:, None], grads.n_tokens,
        )  # fmt: skip
    if isinstance(extras.get(PAC_EXTRA), AugmentedLogProbs):  # members' copies polarize more
        extras[PAC_EXTRA] = _augmented.polarize(extras[PAC_EXTRA], labels)
    return Synth(rows, texts, extras), labels
