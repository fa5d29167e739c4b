"""The signal cache survives corrupt parts and crashed writes: a part that fails to read is
reported, removed and recomputed; stale temporary files are cleaned up."""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pytest

from miakit._core.io import STALE_AFTER_S
from miakit.backends.hf import HFTokenScorer
from miakit.signals.cache import SignalCache
from miakit.signals.engine import SignalEngine
from tinymodels import build_llama, build_tokenizer

TEXTS = [f"Text {i} is about the cat and the dog number {i}." for i in range(6)]
STATS = ("token_log_prob", "mean_log_prob")


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tok)), tok)


def make_engine(scorer, root):
    return SignalEngine(scorer, cache=SignalCache(root), progress=False, batch_tokens=64)


def parts(root):
    return sorted(root.glob("*/part-*.parquet"))


def test_a_truncated_part_is_reported_removed_and_recomputed(tmp_path, scorer):
    first = make_engine(scorer, tmp_path)
    expected = first.compute(TEXTS[:3], stats=STATS)
    first.compute(TEXTS, stats=STATS)  # a second part holds the other three texts
    assert len(parts(tmp_path)) == 2
    broken = parts(tmp_path)[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])

    again = make_engine(scorer, tmp_path)
    with pytest.warns(UserWarning, match=f"{broken.name}.*removed.*recomputed"):
        got = again.compute(TEXTS, stats=STATS)
    assert again.n_forward_batches > 0
    assert not broken.exists()
    for s in STATS:
        np.testing.assert_allclose(
            np.concatenate(got.rows(s)[:3]), expected.flat(s), rtol=1e-5, atol=1e-6
        )

    clean = make_engine(scorer, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again_got = clean.compute(TEXTS, stats=STATS)
    assert clean.n_forward_batches == 0  # everything cached again, read with no warning
    for s in STATS:
        np.testing.assert_array_equal(again_got.flat(s), got.flat(s))


def test_a_garbled_part_is_removed_and_recomputed(tmp_path, scorer):
    make_engine(scorer, tmp_path).compute(TEXTS, stats=STATS)
    (part,) = parts(tmp_path)
    part.write_bytes(b"not a parquet file at all" * 10)
    again = make_engine(scorer, tmp_path)
    with pytest.warns(UserWarning, match="removed"):
        again.compute(TEXTS, stats=STATS)
    assert again.n_forward_batches > 0 and len(parts(tmp_path)) == 1


def test_stale_temporaries_are_cleaned_fresh_ones_kept(tmp_path, scorer):
    make_engine(scorer, tmp_path).compute(TEXTS[:2], stats=STATS)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    stale = folder / ".tmp-part-crashed.parquet"
    stale.write_bytes(b"half a part")
    hours_ago = time.time() - 2 * STALE_AFTER_S
    os.utime(stale, (hours_ago, hours_ago))
    fresh = folder / ".tmp-part-someone-writing.parquet"
    fresh.write_bytes(b"in progress")
    make_engine(scorer, tmp_path).compute(TEXTS, stats=STATS)
    assert not stale.exists()
    assert fresh.exists()


def test_a_flipped_bit_anywhere_in_a_part_is_caught_never_read_back_wrong(tmp_path, scorer):
    """Damage after the write (a disk fault, a bad copy): wherever one bit flips in a part,
    metadata and column names included, the next lookup neither crashes nor returns other
    numbers: the part's digest (in its name) no longer matches, so it is recomputed."""
    expected = make_engine(scorer, tmp_path).compute(TEXTS, stats=STATS)
    (part,) = parts(tmp_path)
    original = part.read_bytes()
    footer = original.rfind(b"n_text_tokens")
    positions = sorted({*range(0, len(original), max(1, len(original) // 40)), footer})
    for pos in positions:
        for leftover in parts(tmp_path):  # the previous round's recomputed part
            leftover.unlink()
        damaged = bytearray(original)
        damaged[pos] ^= 0x10
        part.write_bytes(bytes(damaged))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = make_engine(scorer, tmp_path).compute(TEXTS, stats=STATS)
        for s in STATS:
            np.testing.assert_allclose(got.flat(s), expected.flat(s), rtol=1e-5, atol=1e-6)
