"""A rerun whose rows are all cached loads no tokenizer (and no weights) and builds the same
tables, text coverage included (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from miakit.backends.hf import HFTokenScorer, LazyHFTokenScorer, ModelSpec
from miakit.signals.cache import SignalCache
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import PLAIN, Context

TEXTS = [
    "the cat sat on the mat",
    "dogs bark at night while the moon rises over the hills",
    "a",
    "",
    "glaciers carve valleys over thousands of years",
]
STATS = ["token_log_prob", "mean_log_prob"]
SHOTS = Context("shots", prefix="Berlin is a city. The cat sat.")
CONTEXTS = [PLAIN, SHOTS, Context("lower", transform="lower")]


def lazy(folder, tmp_path) -> LazyHFTokenScorer:
    spec = ModelSpec(path=str(folder), device="cpu", fingerprint_cache=tmp_path / "fp")
    scorer = LazyHFTokenScorer.load(spec)
    assert isinstance(scorer, LazyHFTokenScorer)
    return scorer


def engine(scorer, tmp_path, max_length) -> SignalEngine:
    cache = SignalCache(tmp_path / "signals")
    return SignalEngine(scorer, max_length=max_length, cache=cache, progress=False)


def assert_same(a, b) -> None:
    np.testing.assert_array_equal(a.offsets, b.offsets)
    for s in STATS:
        np.testing.assert_array_equal(a.stats[s], b.stats[s])
    for field in ("truncated", "n_text_tokens", "text_start", "kept_chars"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.meta == b.meta


@pytest.mark.parametrize("model", ["tiny_model_dir", "tiny_reference_dir"])  # BOS / no BOS
def test_cached_rerun_loads_no_tokenizer(request, tmp_path, model):
    folder = request.getfixturevalue(model)
    first = engine(lazy(folder, tmp_path), tmp_path, 64)
    tables = [first.compute(TEXTS, stats=STATS, context=c) for c in CONTEXTS]
    truth = SignalEngine(
        HFTokenScorer.load(ModelSpec(path=str(folder), device="cpu")), max_length=64
    )
    scorer = lazy(folder, tmp_path)
    rerun = engine(scorer, tmp_path, 64)
    for context, table in zip(CONTEXTS, tables, strict=True):
        again = rerun.compute(TEXTS, stats=STATS, context=context)
        assert_same(again, table)
        assert_same(again, truth.compute(TEXTS, stats=STATS, context=context))
    assert rerun.n_forward_batches == 0
    assert not scorer.tokenizer.loaded and not scorer.loaded


def test_no_bos_prefix_start_is_read_from_the_rows(tmp_path, tiny_reference_dir):
    """Without lead ids, a prefix context's ``text_start`` (0: the prefix predicts token 0)
    comes from an untruncated row, where it would otherwise need the prefix tokenised."""
    first = engine(lazy(tiny_reference_dir, tmp_path), tmp_path, 64)
    assert first.lead == ()
    table = first.compute(TEXTS, stats=STATS, context=SHOTS)
    plain = first.compute(TEXTS, stats=STATS, context=PLAIN)
    assert set(table.text_start) == {0} and set(plain.text_start) == {1}


def test_truncated_rows_load_the_tokenizer_for_their_characters(tmp_path, tiny_reference_dir):
    first = engine(lazy(tiny_reference_dir, tmp_path), tmp_path, 6)
    table = first.compute(TEXTS, stats=STATS)
    assert table.truncated.any() and (table.kept_chars[table.truncated] > 0).all()
    scorer = lazy(tiny_reference_dir, tmp_path)
    again = engine(scorer, tmp_path, 6).compute(TEXTS, stats=STATS)
    assert_same(again, table)
    assert scorer.tokenizer.loaded and not scorer.loaded
