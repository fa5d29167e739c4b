"""Regenerate ``tests/golden/golden.json``: the pinned outputs of ``test_golden.py``.

The golden test reruns a few complete ``miakit run`` invocations on tiny in-process models
(built from seeds, nothing downloads) and compares every score, every number of
``metrics.json``, the out-of-fold blind scores and the numbers of the report's leaderboard with
the values stored here. It pins today's outputs across refactors (issue 11: "outputs are
identical before and after").

When to regenerate: **only** when a change is *meant* to change numbers (a bug fix in an
attack, a new metric, a changed default), never to make a refactor pass. Regenerate from the
commit that makes the change and give the reason in its commit message::

    .venv/bin/python tests/golden/make_golden.py          # writes tests/golden/golden.json
    .venv/bin/python tests/golden/make_golden.py --demo   # golden_demo.json (minutes)
    git diff --stat tests/golden/                          # review what moved, and why

To pin the outputs of another commit (e.g. the baseline before a refactor), check it out in a
worktree and point ``PYTHONPATH`` at its sources; the script prints which ``miakit`` it used::

    git worktree add /tmp/golden-base <commit>
    PYTHONPATH=/tmp/golden-base/src .venv/bin/python tests/golden/make_golden.py

The runs go through the CLI entry point (``miakit.cli.main.main``) with model folders written
to a temporary directory, so the fixture pins the public behaviour and no internal API. A flag
renamed on purpose is renamed in :data:`RUNS` / :data:`DEMO_ARGS` without regenerating; a key of
``metrics.json`` renamed on purpose goes into ``KEY_RENAMES`` of ``test_golden.py``.

``golden_demo.json`` pins a miniature ``miakit demo`` the same way (SmolLM2-135M fine-tuned on
CPU with :data:`DEMO_THREADS` threads; the ``slow`` test, skipped without the demo's assets).
"""

from __future__ import annotations

import contextlib
import html.parser
import io
import json
import math
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden.json"
sys.path.insert(0, str(HERE.parent))  # tinymodels, auxmodels

#: Fixture format; bump when the layout of golden.json changes.
FORMAT = 1

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon, and the world watched on television.",
    "the cat sat on the mat and the dog sat on the log",
    "A language model assigns probabilities to sequences of tokens.",
    "Membership inference asks whether a text was in the training data.",
    "The river flows north through the valley before it reaches the sea.",
    "Bakers knead the dough twice so that the bread rises evenly.",
    "The old lighthouse guided ships along the rocky coast for a century.",
    "Chess players study openings, middle games and endgames for years.",
    "The museum opened a new wing dedicated to ancient pottery.",
    "Rain fell on the city all night, and the streets shone in the morning.",
    "A careful gardener waters the roses early, before the heat of the day.",
    "The train to Berlin leaves at nine and arrives in the afternoon.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast in the starter.",
    "The committee postponed the vote until next spring.",
    "Glaciers carve valleys over thousands of years.",
    "Tax forms are due at the end of April in many countries.",
    "Quantum chromodynamics describes the strong interaction between quarks.",
    "The orchestra tuned their instruments while the audience found their seats.",
    "Volcanoes erupt when pressure builds below the crust of the Earth.",
    "A spreadsheet can hide a surprising number of errors in its formulas.",
    "The marathon route passes the cathedral twice, once at each end.",
    "Penguins huddle together to survive the long Antarctic winter.",
    "The library extended its opening hours during the examination period.",
    "Copper wires carry the signal from the antenna to the receiver.",
    "Ok",
    "Mountain goats climb steep cliffs with remarkable balance and speed, "
    "searching for salt and sparse grass high above the tree line.",
]
AUX_NONMEMBERS = ["Owls hunt at night.", "Rivers flood in spring.", "A lemon cake needs eggs."]
AUX_MEMBERS = ["Bees make honey.", "A language model assigns probabilities.", "Snow is cold."]
CALIBRATE = [
    ("Membership inference is a question about training data.", "member"),
    ("The cat chased the dog around the garden.", "member"),
    ("Quantum tunnelling lets particles cross barriers.", "nonmember"),
    ("Lava cools into black basalt near the shore.", "nonmember"),
]
FREQUENCY_CORPUS = {
    "a.txt": "the dog and the cat are friends, and the fox is not",
    "b.txt": "Berlin has many museums. Owls are birds. The sea is wide.",
}

#: The pinned runs: name -> extra ``miakit run`` flags. Placeholders in braces are folders of
#: :func:`prepare` (models and inputs). Together they reach every attack family: plain
#: attacks; ``reference*`` (a model with another tokenizer); ``binoculars`` and
#: ``fast_detectgpt_ref`` (paired statistics); ``recall``/``con_recall`` (auxiliary prefixes,
#: a calibrated gamma, a small ``--max-length`` so truncation spans matter); ``dc_pdd``
#: (a frequency corpus); ``lowercase``, ``zlib``; ``neighborhood`` (masked-LM neighbors) and
#: ``neighborhood_causal``; and the blind baselines with their permutation test.
RUNS: dict[str, list[str]] = {
    "models": [
        "--reference", "{reference}", "--observer", "{observer}",
        "--sampling-model", "{observer}",
        "--n-bootstrap", "200", "--blind-permutations", "49", "--seed", "3",
    ],
    "auxiliary": [
        "--max-length", "48",
        "--aux-nonmembers", "{aux_n}", "--aux-members", "{aux_m}", "--recall-shots", "2",
        "--calibrate", "{calib}", "--frequency-corpus", "{corpus}",
        "--fill-mask-model", "{fill_mask}", "--neighbors", "2", "--neighbor-top-k", "4",
        "--neighbor-fraction", "0.3",
        "--attacks",
        "loss,min_k,zlib,lowercase,recall,con_recall,dc_pdd,neighborhood,neighborhood_causal",
        "--n-bootstrap", "100", "--no-blind",
    ],
}  # fmt: skip


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def fill_mask_vocab() -> list[str]:
    """A fixed WordPiece vocabulary: the special tokens, every character (alone and as a
    ``##`` continuation) and the lowercased words of the members and of the tiny models'
    corpus (non-member words split into pieces)."""
    from tinymodels import CORPUS

    texts = [*MEMBERS, *NONMEMBERS, *AUX_NONMEMBERS, *AUX_MEMBERS, *CORPUS]
    chars = sorted({c for t in texts for c in t.lower() if not c.isspace()})
    words = sorted({w for t in [*MEMBERS, *CORPUS] for w in re.findall(r"\w+", t.lower())})
    pieces = ["##" + c for c in chars if c.isalnum()]
    whole = [w for w in words if len(w) > 1]
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *pieces, *whole]


def save_fill_mask_model(folder: Path) -> Path:
    """A tiny BERT fill-mask model folder. Its tokenizer has the fixed vocabulary of
    :func:`fill_mask_vocab`: a *trained* WordPiece vocabulary (``tests/auxmodels.py``) breaks
    frequency ties differently in each process, which would make the neighbors, and so
    ``neighborhood``'s scores, differ from run to run."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    from auxmodels import build_bert

    vocab = {token: i for i, token in enumerate(fill_mask_vocab())}
    raw = BertWordPieceTokenizer(vocab, lowercase=True)
    tok = BertTokenizerFast(tokenizer_object=raw._tokenizer, model_max_length=128)
    build_bert(len(tok)).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def prepare(root: Path) -> dict[str, str]:
    """Write the tiny models and the input files under ``root``; placeholder -> path."""
    from tinymodels import build_gpt2, build_llama, build_tokenizer

    paths: dict[str, str] = {}
    tok = build_tokenizer(bos=True)
    for name, seed in (("target", 0), ("observer", 3)):
        folder = root / name
        build_llama(len(tok), seed=seed).save_pretrained(folder, safe_serialization=True)
        tok.save_pretrained(folder)
        paths[name] = str(folder)
    ref_tok = build_tokenizer(bos=False, vocab_size=300)
    folder = root / "reference"
    build_gpt2(len(ref_tok)).save_pretrained(folder, safe_serialization=True)
    ref_tok.save_pretrained(folder)
    paths["reference"] = str(folder)
    paths["fill_mask"] = str(save_fill_mask_model(root / "fill-mask"))

    def rows(texts: list[str], prefix: str) -> list[dict[str, Any]]:
        return [{"id": f"{prefix}{i}", "text": t} for i, t in enumerate(texts)]

    paths["members"] = _jsonl(root / "members.jsonl", rows(MEMBERS, "m"))
    paths["nonmembers"] = _jsonl(root / "nonmembers.jsonl", rows(NONMEMBERS, "n"))
    paths["aux_n"] = _jsonl(root / "aux_n.jsonl", rows(AUX_NONMEMBERS, "an"))
    paths["aux_m"] = _jsonl(root / "aux_m.jsonl", rows(AUX_MEMBERS, "am"))
    calib = [{"id": f"k{i}", "text": t, "label": y} for i, (t, y) in enumerate(CALIBRATE)]
    paths["calib"] = _jsonl(root / "calib.jsonl", calib)
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in FREQUENCY_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    paths["corpus"] = str(corpus)
    return paths


def run_args(name: str, paths: Mapping[str, str], out: Path, cache: Path) -> list[str]:
    """The full ``miakit run`` argument list of pinned run ``name``."""
    args = ["run", "--model", paths["target"], "--members", paths["members"]]
    args += ["--nonmembers", paths["nonmembers"], "--out", str(out), "--cache-dir", str(cache)]
    args += ["--device", "cpu", "--dtype", "float32", "--no-progress"]
    return args + [a.format(**paths) for a in RUNS[name]]


def _number(value: Any) -> float | int | None:
    """A JSON number as stored: NaN and infinities as ``None`` / strings (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value  # inf stays a float; json writes Infinity
    return value


def flat_numbers(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every numeric (and boolean) leaf of a JSON value as ``("a/b/0/c", value)``."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from flat_numbers(v, f"{path}/{k}" if path else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from flat_numbers(v, f"{path}/{i}")
    elif isinstance(obj, bool | int | float) and obj is not None:
        yield path, _number(obj)


#: Numbers of metrics.json that describe the machine or the run's history, not its results
#: (``setup/timings/<stage>``: the wall time per stage, issue 15).
VOLATILE = re.compile(
    r"(^|/)(from_cache|elapsed\w*|seconds|\w*_s|duration\w*|time\w*)$|(^|/)setup/timings/"
)


def metrics_numbers(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flat_numbers(metrics) if not VOLATILE.search(k)}


def column_values(frame: Any) -> dict[str, Any]:
    """A scores table as ``{"ids", "labels", "columns", "values": {column: [...]}}``: ids,
    labels and columns in the file's order (the fixture's keys are sorted, lists are not)."""
    columns = [str(c) for c in frame.columns if c not in ("id", "label")]
    return {
        "ids": [str(i) for i in frame["id"]],
        "labels": [str(v) for v in frame["label"]],
        "columns": columns,
        "values": {c: [_number(float(v)) for v in frame[c]] for c in columns},
    }


class _Leaderboard(html.parser.HTMLParser):
    """The report's leaderboard section: its table's cells (text, row by row) and its notes
    (the blind-baseline summary with the permutation p, the footnotes)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.notes: list[str] = []
        self._open: list[str] = []  # tags open inside the section
        self._inside = False
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._inside:
            self._inside = tag == "section" and ("id", "leaderboard") in attrs
            return
        if tag in ("br", "img", "input", "meta", "link", "hr"):  # void elements
            return
        self._open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") or (tag == "p" and ("class", "note") in attrs):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if not self._inside:
            return
        if not self._open:  # the section closes
            self._inside = False
            return
        self._open.pop()
        if self._text is not None and tag in ("td", "th", "p"):
            text = " ".join("".join(self._text).split())
            (self.rows[-1] if tag != "p" else self.notes).append(text)
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def leaderboard_of(report_html: str) -> dict[str, list[Any]]:
    """The report's leaderboard: ``{"rows": [[cell, ...], ...], "note_numbers": [[...], ...]}``
    (every cell as text; of the notes under it, only the numbers, so rewording is free)."""
    parser = _Leaderboard()
    parser.feed(report_html)
    notes = [re.findall(r"\d+(?:\.\d+)?", note) for note in parser.notes]
    return {"rows": [row for row in parser.rows if row], "note_numbers": notes}


def read_run_folder(out: Path) -> dict[str, Any]:
    """What the fixture stores of a run folder: scores, metrics.json numbers, blind scores and
    the report's leaderboard."""
    import pandas as pd

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    record: dict[str, Any] = {
        "scores": column_values(pd.read_parquet(out / "scores.parquet")),
        "metrics": metrics_numbers(metrics),
        "leaderboard": leaderboard_of((out / "report.html").read_text(encoding="utf-8")),
    }
    blind = out / "blind_scores.parquet"
    if blind.is_file():
        record["blind_scores"] = column_values(pd.read_parquet(blind))
    return record


def run_cli(args: list[str], what: str) -> None:
    from miakit.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(args)
    if code != 0:
        raise RuntimeError(f"{what} exited {code}:\n{stderr.getvalue()}")


def capture(name: str, root: Path, paths: Mapping[str, str]) -> dict[str, Any]:
    """Run pinned run ``name`` and return what the fixture stores of it."""
    out = root / f"out-{name}"
    run_cli(run_args(name, paths, out, root / f"cache-{name}"), f"run {name!r}")
    return read_run_folder(out)


def capture_all() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="miakit-golden-") as tmp:
        root = Path(tmp)
        paths = prepare(root)
        return {name: capture(name, root, paths) for name in RUNS}


#: A miniature ``miakit demo`` (SmolLM2-135M fine-tuned on 4 Wikipedia leads, every attack),
#: pinned in ``golden_demo.json`` by the ``slow`` test; it needs the demo's asset packages.
DEMO_ARGS = ["demo", "--n-articles", "8", "--epochs", "1", "--n-bootstrap", "50"]
DEMO_ARGS += ["--device", "cpu", "--no-progress"]
GOLDEN_DEMO = HERE / "golden_demo.json"
#: CPU threads of the demo's fine-tuning and scoring: a sum split over another number of
#: threads rounds differently, so the count is fixed wherever the test runs.
DEMO_THREADS = 2


def demo_assets_installed() -> bool:
    from miakit.assets import MissingAssetError, smollm2_gguf, wiki_summaries_path

    try:
        smollm2_gguf()
        wiki_summaries_path()
    except MissingAssetError:
        return False
    return True


def capture_demo() -> dict[str, Any]:
    """Run the miniature demo in a temporary folder (fresh cache: it fine-tunes) and return
    what the fixture stores of it (a few minutes on two CPU cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(DEMO_THREADS)
    try:
        with tempfile.TemporaryDirectory(prefix="miakit-golden-demo-") as tmp:
            out = Path(tmp) / "out"
            run_cli([*DEMO_ARGS, "--out", str(out), "--cache-dir", str(Path(tmp) / "c")], "demo")
            return read_run_folder(out)
    finally:
        torch.set_num_threads(threads)


def write_fixture(path: Path, runs: dict[str, Any]) -> None:
    text = json.dumps({"format": FORMAT, "runs": runs}, indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import argparse

    import miakit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--demo", action="store_true", help="regenerate golden_demo.json instead (minutes)"
    )
    args = parser.parse_args(argv)
    if args.demo:
        if not demo_assets_installed():
            print("the demo's asset packages are not installed (see miakit.assets)")
            return 1
        path = GOLDEN_DEMO
        write_fixture(path, {"demo": capture_demo()})
    else:
        path = GOLDEN
        write_fixture(path, capture_all())
    print(f"wrote {path} from miakit at {Path(miakit.__file__).parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
