"""Auxiliary inputs through ``miakit.run``: disjointness, selection, calibration, neighbors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import miakit
from auxmodels import AUX_M, AUX_N, MEMBERS, NONMEMBERS, write_jsonl
from miakit.backends.hf import HFTokenScorer
from miakit.errors import DataError, InvalidParameterError
from miakit.perturb import CausalLMPerturber
from miakit.pipeline.providers import frequency as freq
from tinymodels import build_llama, build_tokenizer

CALIB_TEXTS = [
    "Membership inference asks whether a text was in the training data.",
    "A language model assigns probabilities to sequences of tokens.",
    "The cat chased the dog around the garden.",
    "Berlin is a city with many museums.",
    "Quantum chromodynamics describes the strong interaction.",
    "Volcanoes erupt when pressure builds below the crust.",
    "The orchestra tuned its instruments before the concert.",
    "Mountains on the Moon cast long shadows at dawn.",
]
CALIB_LABELS = ["member"] * 4 + ["nonmember"] * 4


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tok)), tok, name="target")


@pytest.fixture()
def files(tmp_path):
    return {
        "members": str(write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")),
        "nonmembers": str(write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")),
        "aux_nonmembers": str(write_jsonl(tmp_path / "an.jsonl", AUX_N, "an")),
        "aux_members": str(write_jsonl(tmp_path / "am.jsonl", AUX_M, "am")),
    }


def run(scorer, tmp_path, **kw):
    base = {
        "scorers": {"target": scorer},
        "cache_dir": str(tmp_path / "cache"),
        "out": str(tmp_path / "out"),
        "write": False,
        "echo": False,
        "progress": False,
        "n_bootstrap": 10,
        "blind": False,
        "recall_shots": 2,
    }
    return miakit.run(**{**base, **kw})


def test_default_selection_skips_with_the_flag_and_explicit_requests_fail(scorer, tmp_path, files):
    result = run(scorer, tmp_path, members=files["members"], nonmembers=files["nonmembers"])
    skipped = result.metrics["skipped_attacks"]
    assert skipped["recall"] == "needs --aux-nonmembers"
    assert skipped["con_recall"] == "needs --aux-members, --aux-nonmembers"
    assert skipped["dc_pdd"] == "needs --frequency-corpus"
    assert skipped["neighborhood"] == "needs --fill-mask-model"  # the paper's generator
    assert "--attacks neighborhood_causal" in skipped["neighborhood_causal"]
    assert "loss" in result.outputs
    with pytest.raises(InvalidParameterError, match="attack 'recall' needs --aux-nonmembers"):
        run(scorer, tmp_path, members=files["members"], attacks=["recall"])
    with pytest.raises(InvalidParameterError, match="'dc_pdd' needs --frequency-corpus"):
        run(scorer, tmp_path, members=files["members"], attacks=["dc_pdd", "loss"])
    # with the inputs, the default run includes them
    with_aux = run(scorer, tmp_path, **files)
    assert {"recall", "con_recall"} <= set(with_aux.outputs)


@pytest.mark.parametrize(
    ("key", "text", "kind"),
    [
        ("aux_nonmembers", MEMBERS[1], "exact"),
        (
            "aux_nonmembers",
            "  paris is the CAPITAL of France, Berlin is the capital of Germany",
            "normalised",
        ),
        ("aux_members", NONMEMBERS[2].upper(), "normalised"),
        ("calibrate", MEMBERS[0], "exact"),
    ],
)
def test_auxiliary_sets_must_be_disjoint_from_evaluation(scorer, tmp_path, files, key, text, kind):
    texts = [*AUX_N, text] if key != "calibrate" else [*CALIB_TEXTS, text]
    extra = {"label": [*CALIB_LABELS, "member"]} if key == "calibrate" else {}
    path = write_jsonl(tmp_path / "bad.jsonl", texts, "x", **extra)
    with pytest.raises(DataError, match=f"'x{len(texts) - 1}'.*\\({kind}\\)") as exc:
        run(scorer, tmp_path, **{**files, key: str(path)})
    assert "--aux" in str(exc.value) or "--calibrate" in str(exc.value)


#: Evaluation texts longer than the 13-word n-gram (so the MinHash/index path is used).
LONG_MEMBERS = [
    "The river valley was settled by farmers who grew barley and wheat on the terraces above "
    "the flood plain, and every spring they repaired the stone walls that the rains had broken.",
    "A small observatory on the ridge recorded the positions of comets for more than forty "
    "years, and its notebooks are now kept in the library of the university in the town.",
]
LONG_NONMEMBERS = [
    "The ferry crossed the strait twice a day in summer, carrying mail, tourists and crates of "
    "oranges from the southern islands to the harbour market on the mainland coast.",
    "During the long drought the village dug a new well beside the old chapel, and the water "
    "was shared by rota so that every household could fill two buckets each morning.",
]


@pytest.mark.parametrize("key", ["aux_nonmembers", "aux_members", "calibrate"])
@pytest.mark.parametrize("how", ["plus_sentence", "sub_passage"])
def test_auxiliary_text_containing_or_inside_an_evaluation_text_is_refused(
    scorer, tmp_path, files, key, how
):
    """An evaluation text plus one sentence (WikiMIA's longer splits extend the shorter ones)
    or a long sub-passage of one is no equal string, but puts evaluation text in the context."""
    members = write_jsonl(tmp_path / "lm.jsonl", LONG_MEMBERS, "m")
    nonmembers = write_jsonl(tmp_path / "ln.jsonl", LONG_NONMEMBERS, "n")
    target = LONG_NONMEMBERS[1] if key == "aux_members" else LONG_MEMBERS[0]
    if how == "plus_sentence":
        bad = target + " The story was told for many years afterwards."
    else:
        bad = " ".join(target.split()[4:28])
    texts = [*AUX_N, bad] if key != "calibrate" else [*CALIB_TEXTS, bad]
    extra = {"label": [*CALIB_LABELS, "member"]} if key == "calibrate" else {}
    path = write_jsonl(tmp_path / "bad.jsonl", texts, "x", **extra)
    eval_id = "n1" if key == "aux_members" else "m0"
    direction = "contains" if how == "plus_sentence" else "is inside"
    common = {**files, "members": str(members), "nonmembers": str(nonmembers)}
    with pytest.raises(DataError) as exc:
        run(scorer, tmp_path, **{**common, key: str(path)})
    msg = str(exc.value)
    bad_id = f"x{len(texts) - 1}"
    assert f"'{bad_id}' (bad.jsonl:{len(texts)}) {direction} evaluation '{eval_id}'" in msg
    assert "containment 1.00" in msg and "Remove those texts" in msg
    # the same file without the offending line runs
    good = write_jsonl(
        tmp_path / "good.jsonl", texts[:-1], "x", **{k: v[:-1] for k, v in extra.items()}
    )
    run(scorer, tmp_path, **{**common, key: str(good)})


def test_auxiliary_text_holding_a_calibration_text_is_refused(scorer, tmp_path, files):
    calib_texts = [*CALIB_TEXTS[:-1], LONG_NONMEMBERS[0]]
    calib = write_jsonl(tmp_path / "cal.jsonl", calib_texts, "c", label=CALIB_LABELS)
    aux = write_jsonl(tmp_path / "an2.jsonl", [*AUX_N, LONG_NONMEMBERS[0] + " Then rain."], "a")
    expected = r"'a3' \(an2.jsonl:4\) contains calibration .* 'c7' \(cal.jsonl:8\)"
    with pytest.raises(DataError, match=expected):
        run(scorer, tmp_path, **{**files, "aux_nonmembers": str(aux), "calibrate": str(calib)})


def test_frequency_corpus_must_not_contain_evaluation_texts(scorer, tmp_path, files):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("some unrelated words\n" + NONMEMBERS[3] + "\n", "utf-8")
    with pytest.raises(DataError, match="'n3'"):
        run(scorer, tmp_path, **files, frequency_corpus=str(corpus), attacks=["dc_pdd"])


def test_frequency_corpus_containment_and_its_size_limit(scorer, tmp_path, files, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Before that: " + NONMEMBERS[2] + " And more.", "utf-8")
    with pytest.raises(DataError, match=r"document \(a.txt\) contains evaluation 'n2'"):
        run(scorer, tmp_path, **files, frequency_corpus=str(corpus), attacks=["dc_pdd"])
    (corpus / "a.txt").write_text("Owls hunt at night. Bees make honey in the summer.", "utf-8")
    ok = run(scorer, tmp_path, **files, frequency_corpus=str(corpus), attacks=["dc_pdd"])
    check = ok.metrics["auxiliary"]["frequency_corpus"]["leakage_check"]
    assert check["containment"] == "checked" and check["normalised"] is True
    assert not any("containment check" in w for w in ok.metrics["warnings"])
    monkeypatch.setattr(freq, "CONTAINMENT_MAX_WORDS", 5)
    big = run(scorer, tmp_path, **files, frequency_corpus=str(corpus), attacks=["dc_pdd"])
    check = big.metrics["auxiliary"]["frequency_corpus"]["leakage_check"]
    assert check["containment"].startswith("skipped: the corpus has 10 words")
    assert any("containment check skipped" in w for w in big.metrics["warnings"])


def calibrate_file(tmp_path, labels, name="calib.jsonl"):
    return str(write_jsonl(tmp_path / name, CALIB_TEXTS, "c", label=labels))


def test_calibration_never_sees_evaluation_labels(scorer, tmp_path, files):
    calib = calibrate_file(tmp_path, CALIB_LABELS)
    common = {**files, "calibrate": calib, "attacks": ["con_recall"]}
    a = run(scorer, tmp_path, **common)
    section = a.metrics["calibration"]
    chosen = section["chosen"]["con_recall.gamma"]
    grid = section["results"]["con_recall.gamma"]["grid"]
    assert [g["value"] for g in grid] == [round(0.1 * i, 1) for i in range(11)]
    assert section["n_members"] == 4 and section["n_nonmembers"] == 4
    # poisoned evaluation labels (members and non-members swapped): the same gamma and grid
    flipped = {**common, "members": files["nonmembers"], "nonmembers": files["members"]}
    b = run(scorer, tmp_path, **flipped)
    assert b.metrics["calibration"] == section
    # the evaluation scores are those of con_recall at the chosen gamma
    fixed = run(
        scorer,
        tmp_path,
        **files,
        attacks=["con_recall"],
        attack_params={"con_recall": {"gamma": chosen}},
    )
    np.testing.assert_allclose(a.scores["con_recall"], fixed.scores["con_recall"])
    # flipped CALIBRATION labels change the choice
    flipped_calib = calibrate_file(tmp_path, CALIB_LABELS[::-1], name="flipped.jsonl")
    c = run(scorer, tmp_path, **{**common, "calibrate": flipped_calib})
    assert c.metrics["calibration"]["chosen"]["con_recall.gamma"] != chosen


def test_calibration_errors(scorer, tmp_path, files):
    common = {**files, "attacks": ["con_recall"]}
    with pytest.raises(InvalidParameterError, match=r"con_recall\.gamma is chosen by --calibrate"):
        run(
            scorer,
            tmp_path,
            **common,
            calibrate=calibrate_file(tmp_path, CALIB_LABELS),
            attack_params={"con_recall": {"gamma": 0.5}},
        )
    with pytest.raises(DataError, match="needs labelled members and non-members"):
        run(scorer, tmp_path, **common, calibrate=calibrate_file(tmp_path, ["member"] * 8))
    with pytest.raises(DataError, match="no label column"):
        run(
            scorer,
            tmp_path,
            **common,
            calibrate=str(write_jsonl(tmp_path / "u.jsonl", CALIB_TEXTS, "u")),
        )
    # a calibration set with no attack to calibrate is not used, and says so
    r = run(
        scorer,
        tmp_path,
        **files,
        attacks=["loss"],
        calibrate=calibrate_file(tmp_path, CALIB_LABELS),
    )
    assert any("--calibrate was given" in w for w in r.metrics["warnings"])


def test_neighbors_written_and_cached(scorer, tmp_path, files, monkeypatch):
    common = {**files, "attacks": ["neighborhood_causal"], "neighbors": 3, "write": True}
    a = run(scorer, tmp_path, **common)
    table = pd.read_parquet(tmp_path / "out" / "neighbors.parquet")
    assert list(table.columns) == ["attack", "id", "neighbor_index", "text", "nll"]
    assert set(table["attack"]) == {"neighborhood_causal"}
    assert set(table["id"]) <= set(a.samples.ids)
    assert table.groupby("id")["neighbor_index"].max().max() == 2
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["auxiliary"]["neighbors"]["neighborhood_causal"]["m"] == 3
    # the mean neighbor NLL minus the text's NLL, from the written file
    nll = -a.tables[("target", "plain")].rows("token_log_prob")[0].mean()
    mean_nbr = table[table["id"] == "m0"]["nll"].mean()
    assert a.scores["neighborhood_causal"].iloc[0] == pytest.approx(mean_nbr - nll, rel=1e-6)

    def boom(self, texts, m, seed):
        raise AssertionError("neighbors were generated again although they were cached")

    monkeypatch.setattr(CausalLMPerturber, "neighbors", boom)
    b = run(scorer, tmp_path, **common)
    pd.testing.assert_frame_equal(b.scores, a.scores)
