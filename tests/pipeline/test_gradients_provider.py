"""The gradients provider (miakit.pipeline.providers.gradients): the engine's prepared inputs,
the backend's norms assembled per sample, and the cache keyed per prepared input."""

from __future__ import annotations

import numpy as np

from miakit._core.parts import PartStore
from miakit.backends.hf import HFTokenScorer
from miakit.pipeline.providers.gradients import compute
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import PLAIN
from tinymodels import build_llama, build_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "In 1969, humans first walked on the Moon, and the world watched it on television.",
    "",
]


class Counting(HFTokenScorer):
    calls: list[int]

    def gradient_norms(self, inputs):
        self.calls.append(len(inputs))
        return super().gradient_norms(inputs)


def _scorer(bos: bool = True) -> Counting:
    tok = build_tokenizer(bos=bos)
    scorer = Counting(build_llama(len(tok)), tok, name="tiny")
    scorer.calls = []
    return scorer


def test_values_are_the_backends_for_the_engines_inputs(tmp_path) -> None:
    for bos in (True, False):
        scorer = _scorer(bos)
        engine = SignalEngine(scorer, max_length=10, progress=False)
        norms = compute(engine, TEXTS, None)
        inputs = engine.prepare(TEXTS, PLAIN)
        layers, want = HFTokenScorer.gradient_norms(
            scorer, [(x.ids, x.first_scored) for x in inputs]
        )
        assert norms.layers == tuple(layers)
        np.testing.assert_allclose(norms.l2[:2], want[:2, :, 1])
        np.testing.assert_allclose(norms.l1[:2], want[:2, :, 0])
        np.testing.assert_allclose(norms.linf[:2], want[:2, :, 2])
        np.testing.assert_allclose(norms.values[:2], np.sqrt((want[:2, :, 1] ** 2).sum(axis=1)))
        assert list(norms.n_tokens) == [len(x.ids) - 1 for x in inputs[:2]] + [0]
        assert np.isnan(norms.values[2]) and "no scored tokens" in norms.reasons[2]


def test_cache_serves_reruns_and_keys_on_the_prepared_input(tmp_path) -> None:
    scorer = _scorer()
    store = PartStore(tmp_path / "gradients", what="gradient cache part")
    first = compute(SignalEngine(scorer, max_length=64, progress=False), TEXTS, store)
    again = compute(SignalEngine(scorer, max_length=64, progress=False), TEXTS, store)
    assert scorer.calls == [3]  # the rerun ran no backward pass
    np.testing.assert_array_equal(first.l2, again.l2)
    # a shorter max_length truncates only the long text: only its input is new
    compute(SignalEngine(scorer, max_length=40, progress=False), TEXTS, store)
    assert scorer.calls == [3, 1]
    # a changed weight is another model: another namespace
    with __import__("torch").no_grad():
        next(scorer.model.parameters()).add_(1.0)
    compute(SignalEngine(scorer, max_length=64, progress=False), TEXTS, store)
    assert scorer.calls == [3, 1, 3]


def test_chunks_are_cached_as_they_finish(tmp_path, monkeypatch) -> None:
    import miakit.pipeline.providers.gradients as provider

    monkeypatch.setattr(provider, "CHUNK", 2)
    scorer = _scorer()
    store = PartStore(tmp_path / "gradients", what="gradient cache part")
    texts = [f"text number {i} about the cat" for i in range(5)]
    whole = compute(SignalEngine(scorer, max_length=64, progress=False), texts, store)
    assert scorer.calls == [2, 2, 1]
    assert len(list((tmp_path / "gradients").rglob("part-*.parquet"))) == 3
    alone = compute(SignalEngine(_scorer(), max_length=64, progress=False), texts[4:], None)
    np.testing.assert_allclose(whole.l2[4:], alone.l2, rtol=1e-5)  # chunking is per sample
