"""DC-PDD token frequencies: counts, Laplace smoothing, the cache, the leakage check."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from miakit.backends.hf import HFTokenScorer
from miakit.data import Sample
from miakit.errors import DataError
from miakit.pipeline.providers.frequency import build_frequency_table, require_not_in_corpus
from tinymodels import build_llama, build_tokenizer

DOCS = ["the cat sat on the mat", "Paris is the capital of France.\nBerlin is a city."]


@pytest.fixture(scope="module")
def scorer():
    tok = build_tokenizer(bos=True)
    return HFTokenScorer(build_llama(len(tok)), tok, name="t")


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(DOCS[0], encoding="utf-8")
    (folder / "sub" / "b.jsonl").write_text(json.dumps({"text": DOCS[1]}) + "\n", "utf-8")
    (folder / ".hidden.txt").write_text("ignored", encoding="utf-8")
    (folder / "notes.md").write_text("ignored too", encoding="utf-8")
    return folder


def test_counts_and_laplace_smoothing(scorer, corpus, tmp_path) -> None:
    table = build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache")
    expected = Counter(
        i for d in DOCS for i in scorer.tokenizer(d, add_special_tokens=False).input_ids
    )
    v = scorer.vocab_size
    assert len(table.counts) == v and table.n_documents == 2
    assert dict((i, int(c)) for i, c in enumerate(table.counts) if c) == dict(expected)
    n = sum(expected.values())
    np.testing.assert_allclose(table.frequencies[5], (expected.get(5, 0) + 1) / (n + v))
    assert table.frequencies.sum() == pytest.approx(1.0)


def test_second_run_reads_the_cache(scorer, corpus, tmp_path) -> None:
    first = build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache")
    assert not first.from_cache
    assert list((tmp_path / "cache" / "frequencies").glob("*.npz"))

    class NoEncode:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def encode(self, texts):
            raise AssertionError("the corpus was tokenized although its counts were cached")

    second = build_frequency_table(corpus, NoEncode(scorer), cache_dir=tmp_path / "cache")
    assert second.from_cache and second.key == first.key
    np.testing.assert_array_equal(second.counts, first.counts)
    # another corpus content is another key
    (corpus / "a.txt").write_text(DOCS[0] + " again", encoding="utf-8")
    third = build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache")
    assert not third.from_cache and third.key != first.key


def test_corpus_must_not_contain_evaluation_texts(scorer, corpus, tmp_path) -> None:
    table = build_frequency_table(corpus, scorer, cache_dir=None)
    require_not_in_corpus(table, [Sample(id="ok", text="Something else entirely")])
    with pytest.raises(DataError, match="'e1'") as exc:
        require_not_in_corpus(table, [Sample(id="e1", text="the cat sat on the mat")])
    assert "--frequency-corpus" in str(exc.value)
    with pytest.raises(DataError, match="'e2'"):  # a line of a document counts too
        require_not_in_corpus(table, [Sample(id="e2", text="Berlin is a city.")])


LONG = (
    "The ferry crossed the strait twice a day in summer, carrying mail, tourists and crates of "
    "oranges from the southern islands to the harbour market on the mainland coast."
)


@pytest.mark.parametrize(
    "text",
    [
        "THE cat sat on the MAT!",  # case and punctuation
        "  the cat\tsat on   the mat  ",  # whitespace
        "Paris is the capital of France",  # a line, without its full stop
        "“Berlin is a city”",  # a line, with curly quotes
    ],
)
def test_a_normalised_copy_in_the_corpus_is_refused(scorer, corpus, text) -> None:
    table = build_frequency_table(corpus, scorer, cache_dir=None)
    with pytest.raises(DataError, match=r"'e9'.*normalised"):
        require_not_in_corpus(
            table, [Sample(id="ok", text="Owls hunt"), Sample(id="e9", text=text)]
        )


def test_containment_is_checked_for_a_small_corpus(scorer, tmp_path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        json.dumps({"text": "Unrelated words about owls and bees."})
        + "\n"
        + json.dumps({"text": "Before the war. " + LONG + " After the war, it stopped."})
        + "\n",
        "utf-8",
    )
    table = build_frequency_table(folder, scorer, cache_dir=None)
    assert table.n_words == 6 + 3 + len(LONG.split()) + 5
    ok = require_not_in_corpus(table, [Sample(id="ok", text="Owls hunt at night in the woods.")])
    assert ok["containment"] == "checked" and ok["normalised"] is True
    with pytest.raises(DataError) as exc:
        require_not_in_corpus(table, [Sample(id="ok", text="Owls"), Sample(id="e3", text=LONG)])
    msg = str(exc.value)
    assert "a.jsonl:2" in msg and "contains evaluation 'e3'" in msg and "containment 1.00" in msg
    # a sub-passage of 13+ words of an evaluation text, as a corpus document, is refused too
    (folder / "b.txt").write_text(" ".join(LONG.split()[2:20]), "utf-8")
    table = build_frequency_table(folder, scorer, cache_dir=None)
    with pytest.raises(DataError, match=r"b.txt.* is inside evaluation 'e3'"):
        require_not_in_corpus(table, [Sample(id="e3", text=LONG)])


def test_containment_is_skipped_above_the_size_limit(scorer, tmp_path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("Before the war. " + LONG + "\nAfter the war.", "utf-8")
    table = build_frequency_table(folder, scorer, cache_dir=None)
    evaluation = [Sample(id="e3", text=LONG)]
    with pytest.raises(DataError):
        require_not_in_corpus(table, evaluation, max_words=table.n_words)
    out = require_not_in_corpus(table, evaluation, max_words=table.n_words - 1)
    assert out["containment"].startswith("skipped") and str(table.n_words) in out["containment"]
    assert out["exact"] is True and out["normalised"] is True
    with pytest.raises(DataError, match="normalised"):  # hashes are still checked
        require_not_in_corpus(table, [Sample(id="e4", text="after the war")], max_words=1)


def test_unsupported_corpus_file(scorer, tmp_path) -> None:
    bad = tmp_path / "corpus.md"
    bad.write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="unsupported corpus file"):
        build_frequency_table(bad, scorer, cache_dir=None)


def test_a_truncated_cache_file_is_recounted(scorer, corpus, tmp_path) -> None:
    first = build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache" / "frequencies").glob("*.npz")
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    with pytest.warns(UserWarning, match="removed"):
        again = build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache")
    assert not again.from_cache
    np.testing.assert_array_equal(again.counts, first.counts)
    assert build_frequency_table(corpus, scorer, cache_dir=tmp_path / "cache").from_cache
