"""An attack with a brand-new kind of input, added from outside miakit, runs through
``miakit.run``: one attack and one provider, registered here, and no edit to the pipeline, the
config or the CLI.

The input is ``shuffled_nll``: each text's NLL under the target after its words are shuffled
(seeded per text, with the provider's own setting ``shuffle_seed``: a YAML key, a flag and a
keyword of ``miakit.run`` declared when the provider registers, with no line in
``config/settings.py``). The attack contrasts it with the text's own log-likelihood; it also
declares a calibration grid, which ``--calibrate`` searches with the provider's values for the
calibration texts.

The default registries are frozen long before this test runs, so each test registers into
unfrozen copies of them (``fresh``), which the run then discovers and freezes as it does the
defaults; ``monkeypatch`` puts the originals back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import miakit
from auxmodels import AUX_M, AUX_N, MEMBERS, NONMEMBERS, write_jsonl
from miakit.attacks import AttackOutput, AttackSpec, PerSample, SignalView, register_attack
from miakit.attacks import _registry as attack_registry
from miakit.backends.hf import HFTokenScorer
from miakit.cli.flags import values_of
from miakit.cli.main import build_parser
from miakit.config import KEYS, dump_yaml, make_config, provided
from miakit.config.provided import declare
from miakit.data import Sample
from miakit.errors import InvalidParameterError
from miakit.pipeline import Input, InputProvider, register_provider
from miakit.pipeline import inputs as provider_registry
from miakit.signals.engine import SignalEngine
from miakit.signals.plan import SignalPlanner
from tinymodels import build_llama, build_tokenizer

EXTRA = "shuffled_nll"


def shuffled(texts: Sequence[str], seed: int) -> list[str]:
    """Each text with its words shuffled, one generator per text (seed, then the text's own
    words: the same text shuffles the same way in every set)."""
    out = []
    for text in texts:
        words = text.split()
        rng = np.random.default_rng([seed, len(words), sum(map(ord, text))])
        out.append(" ".join(words[i] for i in rng.permutation(len(words))))
    return out


def nlls(engine: SignalEngine, texts: Sequence[str]) -> PerSample:
    table = engine.compute(list(texts), stats=["token_log_prob"], desc=EXTRA)
    rows = table.rows("token_log_prob")
    values = [-float(r.mean()) if len(r) else np.nan for r in rows]
    return PerSample.of(values, [None if len(r) else "no scored tokens" for r in rows])


def register_outside() -> None:
    """What a user's own module does: one provider and one attack."""

    @register_provider(
        EXTRA,
        inputs=[Input(f"extra:{EXTRA}", "NLL of the word-shuffled text")],
        settings=[
            declare(
                "shuffle_seed",
                int,
                0,
                group="auxiliary",
                ge=0,
                metavar="N",
                help="added to --seed for the word shuffle of shuffled_nll",
            )
        ],
    )
    class ShuffledNLL(InputProvider):
        calls = 0

        def extras(
            self,
            wanted: set[str],
            planner: SignalPlanner,
            texts: Sequence[str],
            specs: Sequence[AttackSpec],
            *,
            evaluation: Sequence[Sample] | None,
        ) -> dict[str, Any]:
            if EXTRA not in wanted:
                return {}
            self.calls += 1
            engine = planner.engine("target")
            seed = self.run.config.seed + self.run.config.value("shuffle_seed")
            return {EXTRA: nlls(engine, shuffled(texts, seed))}

        def sections(self) -> dict[str, Any]:
            return {"auxiliary": {EXTRA: {"calls": self.calls}}} if self.calls else {}

    @register_attack(
        "shuffle_contrast",
        needs=("token_log_prob",),
        extras=(EXTRA,),
        paper="2012.07805",
        calibration={"weight": (0.5, 1.0, 2.0)},
    )
    def shuffle_contrast(signals: SignalView, *, weight: float = 1.0) -> AttackOutput:
        """``LL(x) + weight · NLL(shuffled x)``: a memorised word order is lost by shuffling.

        A reference-calibrated loss in the spirit of Carlini et al. (arXiv 2012.07805), written
        for this test. NaN with a reason where either side has no scored tokens.
        """
        ref: PerSample = signals.extras[EXTRA]
        scores = np.full(signals.n_samples, np.nan)
        reasons: list[str | None] = list(ref.reasons)
        for i, lp in enumerate(signals.tokens("token_log_prob")):
            if not len(lp):
                reasons[i] = "no scored tokens"
            elif reasons[i] is None:
                scores[i] = lp.mean() + weight * ref.values[i]
        return AttackOutput.from_scores(scores, reasons)


@pytest.fixture()
def fresh(monkeypatch):
    monkeypatch.setattr(provided, "_SETTINGS", dict(provided._SETTINGS))
    monkeypatch.setattr(attack_registry, "_DEFAULT", attack_registry.default_registry().copy())
    monkeypatch.setattr(provider_registry, "_DEFAULT", provider_registry.default_providers().copy())
    register_outside()


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tok)), tok, name="target")


@pytest.fixture()
def files(tmp_path):
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
    }


def run(scorer, tmp_path, **kw):
    base = {
        "scorers": {"target": scorer},
        "cache_dir": str(tmp_path / "cache"),
        "out": str(tmp_path / "out"),
        "n_bootstrap": 10,
        "blind": False,
    }
    return miakit.run(**{**base, **kw})


def test_an_outside_attack_with_a_new_input_runs(fresh, scorer, tmp_path, files):
    result = run(scorer, tmp_path, **files, attacks=["loss", "shuffle_contrast"])
    assert result.scores["shuffle_contrast"].notna().all()
    assert result.metrics["auxiliary"][EXTRA] == {"calls": 1}
    # the provider's values, recomputed apart: scores = LL(x) + NLL(shuffled x)
    engine = SignalEngine(scorer, max_length=2048)
    texts = dict(zip(result.samples.ids, result.samples.texts, strict=True))
    ordered = [texts[i] for i in result.scores["id"]]
    expected = result.scores["loss"] + nlls(engine, shuffled(ordered, 0)).values
    np.testing.assert_allclose(result.scores["shuffle_contrast"], expected, rtol=1e-6)
    assert (tmp_path / "out" / "metrics.json").is_file()
    # its input is built in (no setting): a default run includes the attack
    default = run(scorer, tmp_path, **files, write=False)
    assert "shuffle_contrast" in default.outputs
    assert "shuffle_contrast" not in default.skipped


def test_its_calibration_grid_is_searched_on_the_calibration_set(fresh, scorer, tmp_path, files):
    calib = write_jsonl(
        tmp_path / "calib.jsonl", AUX_M + AUX_N, "c", label=["member"] * 3 + ["nonmember"] * 3
    )
    result = run(
        scorer, tmp_path, **files, attacks=["shuffle_contrast"], calibrate=str(calib), write=False
    )
    section = result.metrics["calibration"]
    assert section["chosen"]["shuffle_contrast.weight"] in (0.5, 1.0, 2.0)
    grid = section["results"]["shuffle_contrast.weight"]["grid"]
    assert [g["value"] for g in grid] == [0.5, 1.0, 2.0]
    assert result.metrics["auxiliary"][EXTRA] == {"calls": 2}  # evaluation, then calibration
    with pytest.raises(InvalidParameterError, match=r"shuffle_contrast\.weight is chosen by"):
        run(
            scorer,
            tmp_path,
            **files,
            attacks=["shuffle_contrast"],
            calibrate=str(calib),
            attack_params={"shuffle_contrast": {"weight": 1.0}},
            write=False,
        )


def test_an_input_no_provider_gives_is_named(fresh, scorer, tmp_path, files):
    @register_attack("orphan", needs=("token_log_prob",), extras=("nobody",), paper="0000.00000")
    def orphan(signals: SignalView) -> np.ndarray:
        """Reads an extra no provider builds."""
        return np.zeros(signals.n_samples)

    result = run(scorer, tmp_path, **files, write=False)
    assert result.skipped["orphan"] == "needs <extra:nobody: no run option provides it>"
    with pytest.raises(InvalidParameterError, match="attack 'orphan' needs <extra:nobody"):
        run(scorer, tmp_path, **files, attacks=["orphan"], write=False)


def test_a_provider_declares_its_inputs_once():
    registry = provider_registry.ProviderRegistry()
    registry.register("a", inputs=[Input("extra:x", "x", "frequency_corpus")])(InputProvider)
    with pytest.raises(RuntimeError, match="'extra:x' is provided by 'a' already"):

        @registry.register("b", inputs=[Input("extra:x", "x")])
        class Other(InputProvider):
            pass

    with pytest.raises(TypeError, match="needs a kind prefix"):

        @registry.register("c", inputs=[Input("x", "x")])
        class Bare(InputProvider):
            pass

    assert provider_registry.flag_of("extra:x", registry) == "--frequency-corpus"
    assert provider_registry.required_flags(["extra:x", "extra:y"], registry) == [
        "--frequency-corpus",
        "<extra:y: no run option provides it>",
    ]
    assert (
        provider_registry.missing_flags(["extra:x"], {"frequency_corpus": "c.txt"}, (), registry)
        == []
    )
    assert provider_registry.missing_flags(["extra:x"], {}, (), registry) == ["--frequency-corpus"]
    with pytest.raises(InvalidParameterError, match="Did you mean 'a'"):
        registry.get("aa")


def test_the_providers_own_setting_is_a_keyword_a_flag_and_a_yaml_key(
    fresh, scorer, tmp_path, files
):
    assert "shuffle_seed" not in KEYS  # declared by the provider, not in config/settings.py
    result = run(scorer, tmp_path, **files, attacks=["loss", "shuffle_contrast"], shuffle_seed=5)
    engine = SignalEngine(scorer, max_length=2048)
    texts = dict(zip(result.samples.ids, result.samples.texts, strict=True))
    ordered = [texts[i] for i in result.scores["id"]]
    expected = result.scores["loss"] + nlls(engine, shuffled(ordered, 5)).values
    np.testing.assert_allclose(result.scores["shuffle_contrast"], expected, rtol=1e-6)
    # checked like a built-in setting, before any model loads
    with pytest.raises(InvalidParameterError, match="shuffle_seed must be an integer >= 0, got -1"):
        run(scorer, tmp_path, **files, shuffle_seed=-1, scorers={})
    with pytest.raises(InvalidParameterError, match="shuffle_seed: expected an integer"):
        make_config({"shuffle_seed": "x"})
    # a flag of miakit run, in the auxiliary section; a YAML key, flat or in its group
    args = build_parser().parse_args(["run", "--shuffle-seed", "3"])
    assert values_of(args) == {"shuffle_seed": 3}
    config = make_config({"auxiliary": {"shuffle_seed": 3}})
    assert config.value("shuffle_seed") == 3 and config == make_config({"shuffle_seed": 3})
    assert make_config({}).value("shuffle_seed") == 0
    # config.resolved.yaml writes it flat, and reads back to the same config
    text = dump_yaml(config)
    assert "shuffle_seed: 3" in text
    import yaml

    assert make_config(yaml.safe_load(text)) == config


def test_a_provider_may_not_take_a_builtin_or_anothers_setting():
    registry = provider_registry.ProviderRegistry()
    with pytest.raises(InvalidParameterError, match="'seed', which is a built-in setting"):
        registry.register("p", settings=[declare("seed", int, 0, help="h")])(InputProvider)
    with pytest.raises(InvalidParameterError, match="the default of provided setting 'x'"):
        declare("x", int, -1, ge=0, help="h")
