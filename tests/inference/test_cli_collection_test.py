"""``miakit collection-test`` end to end on a tiny in-process model, ``--scores`` reuse, and
its error paths."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

import miakit
from miakit.cli.main import main
from miakit.inference.collection import collection_test as api_test

from .test_cli_dataset_inference import _paragraphs, _write

FAST = ["--max-length", "48", "--no-progress"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ct-sets")
    texts = _paragraphs()
    # label columns that contradict the role must not matter: the flag gives the role
    return (
        _write(folder / "collection.jsonl", texts[:20], "c", {"label": "member"}),
        _write(folder / "members.jsonl", texts[20:40], "m", {"label": "nonmember"}),
        _write(folder / "nonmembers.jsonl", texts[40:60], "n"),
    )


def _args(sets, *extra):
    c, m, n = (str(p) for p in sets)
    return ["collection-test", "--collection", c, "--members", m, "--nonmembers", n, *extra]


def test_end_to_end_then_reuse_the_scores(tmp_path, tiny_model_dir, sets, capsys):
    out = tmp_path / "ct"
    args = _args(sets, "--model", str(tiny_model_dir), "--out", str(out), *FAST)
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    for line in ("verdict: ", "p-value: ", "U score: ", "reference AUROC: ", "written to "):
        assert line in printed
    d = json.loads((out / "collection_test.json").read_text())
    assert d["verdict"] in ("member", "not_detected") and d["alpha"] == 0.01
    assert 0 < d["p_value"] <= 1 and 0 <= d["score"] <= 1 and d["paper"] == "arXiv 2411.00154"
    assert d["n_collection"] == 20
    assert d["n_train_members"] + d["n_heldout_members"] == 20
    assert d["n_train_nonmembers"] + d["n_heldout_nonmembers"] == 20
    assert {"loss", "zlib", "min_k"} <= set(d["features"]) == set(d["weights"])
    assert not any(f.startswith(("learned:", "blind:")) for f in d["features"])
    assert "models" in d["scoring"] and d["scoring"]["unit"] == "text"
    table = pd.read_parquet(out / "scores.parquet")
    assert table["set"].tolist() == ["collection"] * 20 + ["member"] * 20 + ["nonmember"] * 20
    assert table["id"].tolist()[:2] == ["c0", "c1"] and table["id"].tolist()[-1] == "n19"
    # the score is U / (n_c * n_held): an independent U of the combined scores agrees
    r = miakit.collection_test(
        collection=sets[0], members=sets[1], nonmembers=sets[2], scores=out / "scores.parquet"
    )
    u = mannwhitneyu(r.collection_scores, r.nonmember_scores, alternative="greater")
    assert r.u_statistic == pytest.approx(u.statistic) and r.p_value == pytest.approx(u.pvalue)
    assert r.score == pytest.approx(u.statistic / (20 * r.n_heldout_nonmembers))

    # the same numbers from the saved attack scores, with no model
    again = tmp_path / "again"
    args = _args(sets, "--scores", str(out / "scores.parquet"), "--out", str(again), *FAST)
    assert main(args) == 0
    d2 = json.loads((again / "collection_test.json").read_text())
    assert d2["p_value"] == d["p_value"] and d2["weights"] == d["weights"]
    assert d2["scoring"] == {"source": str(out / "scores.parquet"), "unit": "text"}


def _scores_file(path, shift, extra=None, rng_seed=0):
    """Synthetic features for the fixture's ids: members shifted up by ``shift`` and the
    collection by ``shift`` too (a collection of members) or 0 (one of non-members)."""
    rng = np.random.default_rng(rng_seed)
    ids = [f"c{i}" for i in range(20)] + [f"m{i}" for i in range(20)] + [f"n{i}" for i in range(20)]
    base = np.r_[np.full(20, shift[0]), np.full(20, shift[1]), np.zeros(20)]
    df = pd.DataFrame({"id": ids, "loss": base + rng.normal(size=60)})
    df["zlib"] = df["loss"] * 0.5 + rng.normal(size=60)
    for name, values in (extra or {}).items():
        df[name] = values
    df.to_parquet(path, index=False)
    return path


def test_a_collection_of_members_is_detected_and_one_of_nonmembers_not(tmp_path, sets):
    hit = _scores_file(tmp_path / "hit.parquet", (3.0, 3.0))
    r = miakit.collection_test(collection=sets[0], members=sets[1], nonmembers=sets[2], scores=hit)
    assert r.verdict == "member" and r.p_value < 1e-4 and r.score > 0.9
    assert r.reference_auroc > 0.9
    miss = _scores_file(tmp_path / "miss.parquet", (0.0, 3.0))
    r = miakit.collection_test(collection=sets[0], members=sets[1], nonmembers=sets[2], scores=miss)
    assert r.verdict == "not_detected" and r.reference_auroc > 0.9


def test_label_fitted_columns_are_never_features(tmp_path, sets):
    """A ``learned:*`` column carries the reference labels (here: it *is* them, and the
    collection looks like members in it): used as a feature it would decide the verdict."""
    leak = np.r_[np.ones(40), np.zeros(20)]
    path = _scores_file(tmp_path / "s.parquet", (0.0, 3.0), {"learned:doc": leak, "blind:x": leak})
    out = tmp_path / "ct"
    r = miakit.collection_test(
        collection=sets[0], members=sets[1], nonmembers=sets[2], scores=path, out=out
    )
    assert set(r.weights) == {"loss", "zlib"}
    d = json.loads((out / "collection_test.json").read_text())
    assert d["scoring"]["excluded_features"] == ["learned:doc", "blind:x"]
    # parity with the statistics API on the kept columns, seed 0 as the run's default
    df = pd.read_parquet(path)
    feats = df[["loss", "zlib"]]
    ref = api_test(feats[:20], feats[20:40], feats[40:], alpha=0.01, holdout=0.5, seed=0)
    assert r.p_value == ref.p_value and r.weights == ref.weights


def test_a_collection_the_blind_baselines_tell_from_the_nonmembers_is_withheld(
    tmp_path, sets, tiny_model_dir, monkeypatch, capsys
):
    """The collection test's assumption, checked as dataset inference checks its own: a
    collection dated years after the reference non-members (same paragraphs otherwise) is
    told apart without the model, so the verdict is withheld, naming the baseline and its
    p-value, and no model is loaded. Without the check these scores say "member"."""
    texts = _paragraphs()
    dated = [f"Release notes of {2031 + i % 3}, May {1 + i}: {t}" for i, t in enumerate(texts[:20])]
    collection = _write(tmp_path / "dated.jsonl", dated, "c")
    hit = _scores_file(tmp_path / "hit.parquet", (3.0, 3.0))
    import miakit.pipeline

    def no_model(*args, **kwargs):
        raise AssertionError("a withheld verdict must load no model")

    monkeypatch.setattr(miakit.pipeline, "run", no_model)
    out = tmp_path / "ct"
    args = _args((collection, sets[1], sets[2]), "--model", str(tiny_model_dir), "--out", str(out))
    assert main([*args, *FAST]) == 0
    printed = capsys.readouterr().out
    assert "verdict: withheld" in printed and "the sets differ without the model" in printed
    d = json.loads((out / "collection_test.json").read_text())
    assert d["verdict"] == "withheld" and d["p_value"] is None and d["weights"] == {}
    checks = d["assumption_checks"]
    assert checks["withhold"] is True and checks["blind_permutation_p"] <= 0.05
    told = f"{checks['blind_best']!r} tells collection documents from reference non-members"
    assert told in d["reason"]
    assert f"p = {checks['blind_permutation_p']:.3g}" in d["reason"]
    assert not (out / "scores.parquet").exists()
    r = miakit.collection_test(
        collection=collection, members=sets[1], nonmembers=sets[2], scores=hit
    )
    assert r.verdict == "withheld"
    # the same scores with the blind check passing (the fixture's undated collection): member
    r = miakit.collection_test(collection=sets[0], members=sets[1], nonmembers=sets[2], scores=hit)
    assert r.verdict == "member" and r.assumptions is not None and not r.assumptions.notes


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("few", "at least 10 reference documents of each kind"),
        ("both", "not both"),
        ("neither", "no scores: pass --model"),
        ("scores", "exactly once"),
        ("shared_ids", "in both the reference member and the reference non-member file"),
        ("same_text", "in two of the collection, reference member and reference non-member"),
        ("unreachable", "cannot reach alpha = 0.01"),
        ("alpha", "--alpha must be a number in (0, 1)"),
        ("holdout", "--holdout must be a number in (0, 1)"),
        ("out", "--out"),
    ],
)
def test_errors_name_the_fix(tmp_path, sets, tiny_model_dir, capsys, case, message):
    c, m, n = sets
    extra = ["--model", str(tiny_model_dir)]
    texts = _paragraphs()
    if case == "missing":
        c = tmp_path / "nope.jsonl"
    elif case == "few":
        m = _write(tmp_path / "few.jsonl", texts[20:24], "m")
    elif case == "both":
        extra += ["--scores", str(tmp_path / "s.parquet")]
    elif case == "neither":
        extra = []
    elif case == "scores":
        pd.DataFrame({"id": ["c0", "m0"], "loss": [1.0, 2.0]}).to_parquet(tmp_path / "s.parquet")
        extra = ["--scores", str(tmp_path / "s.parquet")]
    elif case == "shared_ids":
        n = _write(tmp_path / "n.jsonl", texts[40:60], "m")
    elif case == "same_text":
        n = _write(tmp_path / "n.jsonl", [texts[25], *texts[41:60]], "n")
    elif case == "unreachable":  # 1 document vs 5 held-out non-members: p >= 1/6
        c = _write(tmp_path / "c.jsonl", texts[:1], "c")
        n = _write(tmp_path / "n.jsonl", texts[40:50], "n")
        rows = ["c0", *(f"m{i}" for i in range(20)), *(f"n{i}" for i in range(10))]
        pd.DataFrame({"id": rows, "loss": np.arange(31.0)}).to_parquet(tmp_path / "s.parquet")
        extra = ["--scores", str(tmp_path / "s.parquet")]
    elif case == "alpha":
        extra += ["--alpha", "1.5"]
    elif case == "holdout":
        extra += ["--holdout", "0"]
    elif case == "out":  # a file where the output folder should be: refused before any work
        (tmp_path / "taken").write_text("")
        extra += ["--out", str(tmp_path / "taken")]
    assert main([*_args((c, m, n), *extra), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_help_lists_the_verb(capsys):
    with pytest.raises(SystemExit):
        main(["collection-test", "--help"])
    text = capsys.readouterr().out
    assert "arXiv 2411.00154" in text and "--holdout" in text and "--scores" in text
