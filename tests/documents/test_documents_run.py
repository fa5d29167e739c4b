"""Documents end to end: miakit.run and the CLI with --doc-window, on tiny in-process models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import miakit
from miakit.backends.hf import HFTokenScorer
from miakit.cli.main import main
from miakit.errors import DataError, InvalidParameterError
from miakit.metrics import evaluate
from miakit.metrics.documents import AGGREGATES
from tinymodels import CORPUS, build_gpt2, build_llama, build_tokenizer

ATTACKS = ["loss", "zlib", "min_k", "reference"]


@pytest.fixture(scope="module")
def scorers():
    tok = build_tokenizer()
    ref_tok = build_tokenizer(bos=False, vocab_size=300)  # another tokenizer
    return {
        "target": HFTokenScorer(build_llama(len(tok)), tok, name="tiny"),
        "reference": HFTokenScorer(build_gpt2(len(ref_tok)), ref_tok, name="ref"),
    }


def rows(n_docs: int = 12, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    vocab = " ".join(CORPUS).split()
    out = []
    for i in range(n_docs):
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(4, 40)))
        out.append({"id": f"d{i}", "text": text, "label": "member" if i % 2 else "nonmember"})
    return out


def write(path: Path, data: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in data:
            f.write(json.dumps(r) + "\n")
    return str(path)


def run(folder: Path, data: list[dict], scorers, **options) -> miakit.RunResult:
    options = {"attacks": ATTACKS, "n_bootstrap": 30, "no_cache": True, "blind": False, **options}
    return miakit.run(
        data=write(folder / "data.jsonl", data), scorers=scorers, out=str(folder / "out"),
        **options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def chunked(tmp_path_factory, scorers) -> miakit.RunResult:
    return run(tmp_path_factory.mktemp("chunked"), rows(), scorers, doc_window=10, doc_stride=6)


def test_chunking_off_writes_no_document_output(tmp_path, scorers):
    result = run(tmp_path, rows(6), scorers)
    assert "documents" not in result.metrics
    assert not (tmp_path / "out" / "documents.parquet").exists()
    assert result.samples.ids == [f"d{i}" for i in range(6)]


def test_chunks_are_ordinary_samples_every_model_scores_the_same_characters(
    chunked, tmp_path, scorers
):
    """The chunked run equals a plain run on its chunks' texts (ids, doc ids and labels as
    given): the same characters reach every model, the reference with its own tokenizer."""
    samples = chunked.samples
    assert len(samples) > 12 and any("#" in i for i in samples.ids)
    plain = [
        {"id": s.id, "text": s.text, "label": s.label.value, "doc_id": s.doc_id} for s in samples
    ]
    again = run(tmp_path, plain, scorers)
    pd.testing.assert_frame_equal(chunked.scores, again.scores)
    assert chunked.metrics["documents"]["attacks"] == again.metrics["documents"]["attacks"]
    lengths = np.array([len(t) for t in samples.texts])
    for key in (("target", "plain"), ("reference", "plain")):
        table = chunked.tables[key]
        assert table.n_samples == len(samples) and not table.truncated.any()
        np.testing.assert_array_equal(table.kept_chars, lengths)
    target, ref = chunked.tables[("target", "plain")], chunked.tables[("reference", "plain")]
    assert (target.n_text_tokens != ref.n_text_tokens).any()  # two tokenizations of one text
    assert target.n_text_tokens.max() <= 10


def test_chunks_cover_each_document(chunked):
    docs: dict[str, list[str]] = {}
    for s in chunked.samples:
        docs.setdefault(s.doc_id, []).append(s.text)
    original = {r["id"]: r["text"] for r in rows()}
    assert set(docs) == set(original)
    for doc, parts in docs.items():
        assert parts[0] == original[doc][: len(parts[0])]
        assert original[doc].endswith(parts[-1])
        assert all(p in original[doc] for p in parts)


def test_documents_parquet_equals_a_pandas_groupby(chunked):
    out = Path(chunked.out_dir)
    docs = pd.read_parquet(out / "documents.parquet")
    scores = pd.read_parquet(out / "scores.parquet")
    samples = pd.read_parquet(out / "samples.parquet")
    frame = scores.merge(samples[["id", "doc_id"]], on="id")
    g = frame.groupby("doc_id", sort=False)
    want = {
        "mean": g.mean(numeric_only=True), "min": g.min(numeric_only=True),
        "max": g.max(numeric_only=True), "median": g.median(numeric_only=True),
        "q25": g.quantile(0.25, numeric_only=True), "q75": g.quantile(0.75, numeric_only=True),
    }  # fmt: skip
    docs = docs.set_index("doc_id")
    assert list(docs.index) == [r["id"] for r in rows()]
    np.testing.assert_array_equal(docs["n_chunks"], g.size().loc[docs.index])
    for attack in ATTACKS:
        for agg in AGGREGATES:
            np.testing.assert_allclose(
                docs[f"{attack}:{agg}"], want[agg].loc[docs.index, attack], rtol=1e-12
            )
    assert (docs["label"] == g["label"].first().loc[docs.index]).all()


def test_document_metrics_resample_documents(chunked):
    """The document metrics are evaluate() of one score per document: its bootstrap draws
    documents (n = documents, not chunks)."""
    section = chunked.metrics["documents"]
    docs = pd.read_parquet(Path(chunked.out_dir) / "documents.parquet")
    y = (docs["label"] == "member").astype(int).to_numpy()
    assert section["n_documents"] == 12 and section["n_chunks"] == len(chunked.samples)
    for attack in ATTACKS:
        for agg in AGGREGATES:
            got = section["attacks"][attack][agg]
            want = evaluate(docs[f"{attack}:{agg}"].to_numpy(), y, n_resamples=30, seed=0)
            assert got == json.loads(json.dumps(want)) and got["n"] == 12
    assert section["window"] == 10 and section["stride"] == 6
    metrics = json.loads((Path(chunked.out_dir) / "metrics.json").read_text())
    assert metrics["documents"]["n_documents"] == 12


def test_permuting_input_rows_permutes_the_documents(chunked, tmp_path, scorers):
    data = rows()
    order = np.random.default_rng(0).permutation(len(data))
    shuffled = run(tmp_path, [data[i] for i in order], scorers, doc_window=10, doc_stride=6)
    a = pd.read_parquet(Path(chunked.out_dir) / "documents.parquet").set_index("doc_id")
    b = pd.read_parquet(Path(shuffled.out_dir) / "documents.parquet").set_index("doc_id")
    assert list(b.index) == [data[i]["id"] for i in order]
    pd.testing.assert_frame_equal(a, b.loc[a.index])
    sa = chunked.scores.set_index("id")
    sb = shuffled.scores.set_index("id")
    pd.testing.assert_frame_equal(sa, sb.loc[sa.index])
    for attack in ATTACKS:
        auc = shuffled.metrics["documents"]["attacks"][attack]["mean"]["auroc"]
        assert auc == chunked.metrics["documents"]["attacks"][attack]["mean"]["auroc"]


def test_rows_sharing_a_doc_id_are_one_document(tmp_path, scorers):
    data = [
        {"id": f"p{i}", "text": r["text"], "label": "member" if i < 6 else "nonmember",
         "doc_id": f"doc{i // 3}"}
        for i, r in enumerate(rows(12))
    ]  # fmt: skip
    result = run(tmp_path, data, scorers)
    section = result.metrics["documents"]
    assert section["n_documents"] == 4 and section["chunks_per_document"] == {"min": 3, "max": 3}
    assert section["window"] is None
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    assert docs["doc_id"].tolist() == ["doc0", "doc1", "doc2", "doc3"]


def test_a_document_with_no_scored_chunk_is_nan_with_a_reason(tmp_path, scorers):
    data = [*rows(6), {"id": "tiny", "text": "Ok", "label": "member"}]
    result = run(tmp_path, data, scorers, doc_window=10, attacks=["min_k"],
                 attack_params={"min_k": {"k": 0.2}})  # fmt: skip
    nan = result.metrics["documents"]["nan"]["min_k"]
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet").set_index("doc_id")
    # min_k at k = 0.2 needs 5 scored tokens: "Ok" has fewer
    assert docs.loc["tiny", "min_k:n_scored"] == 0 and np.isnan(docs.loc["tiny", "min_k:mean"])
    assert [n["doc_id"] for n in nan] == ["tiny"]
    assert nan[0]["reason"].startswith("document 'tiny': none of its 1 chunk(s) was scored (tiny:")
    section = result.metrics["documents"]
    assert section["attacks"]["min_k"]["mean"]["n"] == 7
    assert section["attacks"]["min_k"]["mean"]["n_nan"] == 1
    n_nan = int(result.scores["min_k"].isna().sum())
    assert section["unscored_chunks"]["min_k"] == n_nan
    assert docs["min_k:n_scored"].sum() == len(result.scores) - n_nan


def test_learned_classifiers_run_by_document(tmp_path, scorers):
    result = run(tmp_path, rows(12), scorers, doc_window=10, doc_combiner=True, doc_folds=3)
    learned = result.metrics["documents"]["learned"]
    docs = pd.read_parquet(tmp_path / "out" / "documents.parquet")
    for name in ("combiner", "histogram"):
        assert "error" not in learned[name], learned[name]
        assert learned[name]["n"] == 12 and 0 <= learned[name]["auroc"] <= 1
        scores = learned[name]["scores"]  # one per document, out of fold
        assert list(scores) == docs["doc_id"].tolist()
        np.testing.assert_array_equal(docs[f"learned:{name}"], list(scores.values()))
        y = (docs["label"] == "member").astype(int).to_numpy()
        want = evaluate(docs[f"learned:{name}"].to_numpy(), y, n_resamples=30, seed=0)
        assert learned[name]["auroc"] == want["auroc"]
    # unlabelled documents are scored by the models of all the labelled ones
    more = [*rows(12), *({**r, "id": f"u{i}", "label": "unknown"} for i, r in
                         enumerate(rows(3, seed=7)))]  # fmt: skip
    suspect = run(tmp_path / "u", more, scorers, doc_window=10, doc_combiner=True, doc_folds=3)
    u_docs = pd.read_parquet(tmp_path / "u" / "out" / "documents.parquet").set_index("doc_id")
    assert np.isfinite(u_docs.loc[["u0", "u1", "u2"], "learned:combiner"]).all()
    assert suspect.metrics["documents"]["learned"]["combiner"]["n"] == 12
    few = run(tmp_path / "few", rows(4), scorers, doc_window=10, doc_combiner=True)
    assert "at least 5 member" in few.metrics["documents"]["learned"]["combiner"]["error"]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"doc_stride": 4}, InvalidParameterError, "--doc-stride needs --doc-window"),
        ({"doc_window": 4, "doc_stride": 5}, InvalidParameterError, "larger than --doc-window"),
        ({"doc_window": 40, "max_length": 20}, InvalidParameterError, "does not fit"),
        ({"doc_window": 4, "doc_stride": 0}, InvalidParameterError, "doc_stride"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, scorers, options, error, match):
    with pytest.raises(error, match=match):
        run(tmp_path, rows(4), scorers, **options)


def test_a_document_mixing_labels_is_refused(tmp_path, scorers):
    data = [
        {"id": "a", "text": CORPUS[0], "label": "member", "doc_id": "book"},
        {"id": "b", "text": CORPUS[1], "label": "nonmember", "doc_id": "book"},
        {"id": "c", "text": CORPUS[2], "label": "nonmember"},
    ]
    with pytest.raises(DataError, match="'book' have samples with different labels"):
        run(tmp_path, data, scorers)


def test_cli_doc_window(tmp_path, tiny_model_dir, capsys):
    data = write(tmp_path / "data.jsonl", rows(8))
    out = tmp_path / "out"
    args = ["run", "--model", str(tiny_model_dir), "--data", data, "--out", str(out)]
    args += ["--attacks", "loss,zlib", "--doc-window", "12", "--doc-stride", "8", "--no-cache"]
    args += ["--no-progress", "--n-bootstrap", "20", "--no-blind"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["documents"]["n_documents"] == 8
    docs = pd.read_parquet(out / "documents.parquet")
    assert len(docs) == 8 and docs["n_chunks"].sum() == metrics["documents"]["n_chunks"]
    assert metrics["samples"]["n"] == metrics["documents"]["n_chunks"]
    # `miakit report DIR` renders the documents section again from the folder
    assert main(["report", str(out), "--out", str(tmp_path / "again.html")]) == 0
    again = (tmp_path / "again.html").read_text()
    assert 'id="documents"' in again and "8 documents" in again
    capsys.readouterr()


def test_report_shows_the_documents(chunked, tmp_path, scorers):
    html = (Path(chunked.out_dir) / "report.html").read_text()
    section = html[html.index('<section id="documents"') :]
    section = section[: section.index("</section>")]
    auc = chunked.metrics["documents"]["attacks"]["loss"]["mean"]["auroc"]
    assert f"{auc:.3f}" in section and "12 documents" in section
    assert 'href="#documents"' in html
    plain = run(tmp_path, rows(6), scorers)
    assert 'id="documents"' not in (Path(plain.out_dir) / "report.html").read_text()


def test_a_chunk_shared_by_both_labels_is_refused(tmp_path, scorers):
    shared = " ".join(rows(1)[0]["text"].split()[:12])
    data = [
        {"id": "a", "text": shared + " alpha beta gamma", "label": "member"},
        {"id": "b", "text": shared + " delta epsilon", "label": "nonmember"},
        *rows(4, seed=1),
    ]
    with pytest.raises(DataError, match="after splitting the documents into windows of 6"):
        run(tmp_path, data, scorers, doc_window=6)
    result = run(tmp_path, data, scorers, doc_window=6, allow_overlap=True)
    assert result.metrics["documents"]["n_documents"] == 6
