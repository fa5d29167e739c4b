"""A sharded run never reuses shards computed for other inputs: the plan holds each table's
cache namespace (model weights, tokenizer, context and prefix text, max_length, BOS, dtype), so
a rerun into the same ``--out`` with other prefixes, another dtype or other in-memory weights is
refused with a message naming what changed, instead of returning the old numbers."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

import miakit
from auxmodels import AUX_M, AUX_N, MEMBERS, NONMEMBERS, write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.errors import MiakitError
from tinymodels import build_llama, build_tokenizer

AUX_N2 = ["Lions sleep in the afternoon.", "Coffee grows on hills.", "A kite needs wind."]


@pytest.fixture()
def data(tmp_path):
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
        "aux_a": str(write_jsonl(tmp_path / "a.jsonl", AUX_N, "a")),
        "aux_b": str(write_jsonl(tmp_path / "b.jsonl", AUX_N2, "b")),
        "aux_m": str(write_jsonl(tmp_path / "am.jsonl", AUX_M, "am")),
    }


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(bos=True)


def scorer(tok, seed=0):
    return HFTokenScorer(build_llama(len(tok), seed=seed), tok, name="target")


def run(data, out, *, scorers=None, **fields):
    base = {"members": data["members"], "nonmembers": data["nonmembers"], "out": str(out)}
    return miakit.run(
        **{**base, **fields},
        scorers=scorers,
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
        blind=False,
    )


def test_other_prefixes_into_the_same_out_are_refused_not_reused(tmp_path, data, tok):
    s = scorer(tok)
    common = {"aux_members": data["aux_m"], "recall_shots": 2, "attacks": ["recall"]}
    out = tmp_path / "out"
    run(data, out, scorers={"target": s}, aux_nonmembers=data["aux_a"], shard_size=3, **common)
    with pytest.raises(MiakitError) as info:
        run(data, out, scorers={"target": s}, aux_nonmembers=data["aux_b"], shard_size=3, **common)
    message = str(info.value)
    assert "target|recall_nonmember" in message  # the table whose numbers would differ
    assert "target|plain" not in message  # the unchanged one is not blamed
    assert "--out" in message and re.search(r"delete .*shards", message)
    # after following the advice the result is that of a fresh run with prefix set B
    shutil.rmtree(out / "shards")
    b_sharded = run(
        data, out, scorers={"target": s}, aux_nonmembers=data["aux_b"], shard_size=3, **common
    )
    b_fresh = run(
        data, tmp_path / "fresh", scorers={"target": s}, aux_nonmembers=data["aux_b"], **common
    )
    pd.testing.assert_series_equal(b_sharded.scores["recall"], b_fresh.scores["recall"], rtol=1e-5)
    # another seed draws other shots (seed 1: shots 0, 1 instead of 1, 2): another prefix
    with pytest.raises(MiakitError, match="recall_nonmember"):
        run(
            data,
            out,
            scorers={"target": s},
            aux_nonmembers=data["aux_b"],
            shard_size=3,
            seed=1,
            **common,
        )


def test_other_in_memory_weights_are_refused(tmp_path, data, tok):
    out = tmp_path / "out"
    first = run(data, out, scorers={"target": scorer(tok, 0)}, shard_size=3, attacks=["loss"])
    with pytest.raises(MiakitError, match=r"target\|plain"):
        run(data, out, scorers={"target": scorer(tok, 5)}, shard_size=3, attacks=["loss"])
    # the same weights in a new object are the same model: shards are reused
    again = run(data, out, scorers={"target": scorer(tok, 0)}, shard_size=3, attacks=["loss"])
    np.testing.assert_array_equal(again.scores["loss"], first.scores["loss"])


def test_another_dtype_is_refused(tmp_path, data, tiny_model_dir):
    out = tmp_path / "out"
    model = {"model": str(tiny_model_dir), "shard_size": 3, "attacks": ["loss"]}
    run(data, out, dtype="float32", **model)
    with pytest.raises(MiakitError, match=r"target\|plain"):
        run(data, out, dtype="bfloat16", **model)
    run(data, out, dtype="float32", **model)  # the original plan still matches
