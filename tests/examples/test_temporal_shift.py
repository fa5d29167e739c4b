"""examples/temporal_shift: build_sets.py on a synthetic Django sdist, strata.py on fake scores.

No model and no network."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "examples" / "temporal_shift"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"temporal_shift_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class body runs
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bs = _load("build_sets")
strata = _load("strata")

FILLER = (
    "The framework now validates this setting when the server starts, so that a typo "
    "surfaces at once instead of at the first request, and the error names the setting, "
    "the value it found and the values it accepts."
)


def prose(tag: str) -> str:
    """A paragraph of about 250 characters, hard-wrapped like the real notes."""
    text = f"{tag}: {FILLER}"
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) > 70:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join([*lines, line])


def note(version: str, date_line: str, n_paragraphs: int, extra: str = "") -> str:
    title = f"Django {version} release notes"
    body = "\n\n".join(prose(f"Change {k} of Django {version}") for k in range(n_paragraphs))
    return f"{'=' * len(title)}\n{title}\n{'=' * len(title)}\n\n{date_line}\n\n{body}\n\n{extra}"


# Every construct the parser must drop or keep, in one file.
MARKUP = f"""\
What's new
==========

.. _whats-new-demo:

{prose("Kept before a literal block")}::

    def view(request):
        return HttpResponse("code paragraph that is long enough to pass the length filter " * 5)

.. code-block:: python
    :caption: example.py

    from django.db import models  # {"x" * 250}

.. note::
    :class: extra

    {prose("Kept from a note").replace(chr(10), chr(10) + "    ")}

Short paragraph, under 200 characters.

{("A very long paragraph. " * 60).strip()}

=====  =====
col    value {"y" * 250}
=====  =====

* {prose("First list item").replace(chr(10), chr(10) + "  ")}
* Second list item.
"""

NOTES = {
    # members (before the 2023-06-01 cutoff)
    "2.0.txt": note("2.0", "*December 2, 2017*", 6, MARKUP),
    "4.2.txt": note("4.2", "April 3, 2023", 4),
    # in the gap: dropped from both sides
    "5.0.txt": note("5.0", "*December 4, 2023.*", 3),
    # non-members (on or after 2025-01-01)
    "5.2.txt": note("5.2", "*April 2, 2025*", 4),
    "7.0.txt": note("7.0", "Released on March 3, 2027", 6),
    # no date line: left out
    "1.0.txt": "Django 1.0 release notes\n========================\n\n" + prose("Undated"),
    "index.txt": "Release notes\n=============\n\n" + prose("Index"),
}


def make_sdist(path: Path, notes: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        files = {f"django-9.9/docs/releases/{k}": v for k, v in notes.items()}
        files["django-9.9/docs/intro.txt"] = prose("Not a release note")
        files["django-9.9/docs/releases/sub/6.0.txt"] = note("6.0", "*May 1, 2025*", 2)
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    return make_sdist(tmp_path / "django-9.9.tar.gz", NOTES)


def build(sdist: Path, out: Path, *args: str) -> tuple[list[dict], list[dict], dict]:
    manifest = bs.main(["--sdist", str(sdist), "--out", str(out), *args])
    rows = [
        [json.loads(line) for line in (out / f"{side}.jsonl").read_text().splitlines()]
        for side in ("members", "nonmembers")
    ]
    assert manifest == json.loads((out / "manifest.json").read_text())
    return rows[0], rows[1], manifest


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("*March 2, 2021*", dt.date(2021, 3, 2)),
        ("*May 17, 2010.*", dt.date(2010, 5, 17)),
        ("July 29, 2009", dt.date(2009, 7, 29)),
        ("Released on March 3, 2027", dt.date(2027, 3, 3)),
        ("*released: june 5, 2023*", dt.date(2023, 6, 5)),
        ("On March 17, 2013, the project lost a dear friend.", None),
        ("*Smarch 2, 2021*", None),
    ],
)
def test_parse_release_date(line: str, expected: dt.date | None) -> None:
    assert bs.parse_release_date(f"Title\n=====\n\n{line}\n\nText.") == expected


def test_first_date_line_wins_and_sentences_do_not_count() -> None:
    text = ".. note::\n\n    On March 17, 2013, someone.\n\n*November 6, 2013*\n\n*May 1, 2014*\n"
    assert bs.parse_release_date(text) == dt.date(2013, 11, 6)


def test_paragraphs_drop_markup_and_keep_prose() -> None:
    paras = bs.paragraphs(NOTES["2.0.txt"])
    joined = "\n".join(paras)
    for dropped in ("release notes", "What's new", "=====", ".. ", "def view", "from django"):
        assert dropped not in joined, dropped
    assert "col    value" not in joined  # the table
    assert paras[0] == "*December 2, 2017*"
    # "Text::" reads "Text:"; wrapped lines are joined; the note's body is kept, dedented
    literal = next(p for p in paras if p.startswith("Kept before a literal block"))
    assert literal.endswith("accepts.:") and "\n" not in literal
    assert any(p.startswith("Kept from a note: The framework") for p in paras)
    # one line per list item; a list item's continuation lines are joined
    items = next(p for p in paras if p.startswith("* First list item"))
    assert items.splitlines()[1] == "* Second list item."


def test_literal_marker_variants() -> None:
    text = "Spaced ::\n\n    code()\n\n::\n\n    more()\n\nAfter."
    assert bs.paragraphs(text) == ["Spaced", "After."]


def test_sets_respect_dates_lengths_and_skip_undated(sdist: Path, tmp_path: Path) -> None:
    members, nonmembers, manifest = build(sdist, tmp_path / "out")
    for row in members + nonmembers:
        assert set(row) == {"id", "text", "date", "release"}
        assert 200 <= len(row["text"]) <= 1200
        assert row["id"].startswith(row["release"] + "#")
    assert {r["release"] for r in members} == {"2.0.txt", "4.2.txt"}
    assert {r["release"] for r in nonmembers} == {"5.2.txt", "7.0.txt"}
    assert all(r["date"] < "2023-06-01" for r in members)
    assert all(r["date"] >= "2025-01-01" for r in nonmembers)
    # 2.0: 6 + 3 (literal-block intro, note body, list); 4.2: 4
    assert len(members) == 6 + 3 + 4
    assert len(nonmembers) == 4 + 6
    assert manifest["release_notes"]["undated"] == ["1.0.txt", "index.txt"]
    assert manifest["release_notes"]["dated"] == 4 + 1  # sub/ and intro.txt are not notes
    assert manifest["available"] == {"members": 13, "nonmembers": 10}
    texts = [r["text"] for r in members + nonmembers]
    assert not any("Short paragraph" in t or "A very long paragraph" in t for t in texts)


def test_cutoff_and_gap_end_are_options(sdist: Path, tmp_path: Path) -> None:
    members, nonmembers, _ = build(
        sdist, tmp_path / "out", "--cutoff", "2024-01-01", "--gap-end", "2027-01-01"
    )
    assert {r["release"] for r in members} == {"2.0.txt", "4.2.txt", "5.0.txt"}
    assert {r["release"] for r in nonmembers} == {"7.0.txt"}


def test_window_keeps_texts_near_the_cutoffs(sdist: Path, tmp_path: Path) -> None:
    # members within 365 days before 2023-06-01, non-members within 365 days after 2025-01-01
    members, nonmembers, manifest = build(sdist, tmp_path / "out", "--window", "365")
    assert {r["release"] for r in members} == {"4.2.txt"}
    assert {r["release"] for r in nonmembers} == {"5.2.txt"}
    assert manifest["window_days"] == 365
    assert manifest["dates"] == {
        "members": ["2023-04-03", "2023-04-03"],
        "nonmembers": ["2025-04-02", "2025-04-02"],
    }


def test_window_bounds_are_inclusive_after_and_exclusive_before(tmp_path: Path) -> None:
    notes = {
        "a.txt": note("a", "*May 31, 2023*", 1),  # cutoff - 1 day: member
        "b.txt": note("b", "*June 1, 2023*", 1),  # the cutoff itself: in the gap
        "c.txt": note("c", "*January 1, 2025*", 1),  # gap end: non-member
        "d.txt": note("d", "*January 11, 2025*", 1),  # gap end + 10 days: kept by --window 10
        "e.txt": note("e", "*January 12, 2025*", 1),  # gap end + 11 days: dropped
        "f.txt": note("f", "*May 21, 2023*", 1),  # cutoff - 11 days: dropped
    }
    sdist = make_sdist(tmp_path / "django-9.9.tar.gz", notes)
    members, nonmembers, _ = build(sdist, tmp_path / "out", "--window", "10")
    assert [r["release"] for r in members] == ["a.txt"]
    assert [r["release"] for r in nonmembers] == ["c.txt", "d.txt"]


def test_subsampling_is_seeded(sdist: Path, tmp_path: Path) -> None:
    first = build(sdist, tmp_path / "a", "--n", "3", "--seed", "7")
    again = build(sdist, tmp_path / "b", "--n", "3", "--seed", "7")
    other = build(sdist, tmp_path / "c", "--n", "3", "--seed", "8")
    assert first[:2] == again[:2]
    assert (tmp_path / "a" / "members.jsonl").read_bytes() == (
        tmp_path / "b" / "members.jsonl"
    ).read_bytes()
    assert len(first[0]) == len(first[1]) == 3
    assert first[:2] != other[:2]
    assert first[2]["written"] == {"members": 3, "nonmembers": 3}


def test_repeated_text_is_kept_once_at_its_earliest_date(tmp_path: Path) -> None:
    shared = prose("Repeated security paragraph")
    notes = {
        "4.2.1.txt": note("4.2.1", "*May 3, 2023*", 1, shared),
        "5.2.1.txt": note("5.2.1", "*May 7, 2025*", 1, shared),
    }
    members, nonmembers, _ = build(make_sdist(tmp_path / "d.tar.gz", notes), tmp_path / "out")
    texts = [r["text"] for r in members], [r["text"] for r in nonmembers]
    flat = shared.replace("\n", " ")
    assert flat in texts[0] and flat not in texts[1]


def test_errors_say_what_to_do(sdist: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-tar.gz"
    bad.write_text("hello")
    with pytest.raises(SystemExit, match="cannot read it as a tar archive"):
        bs.main(["--sdist", str(bad), "--out", str(tmp_path / "x")])
    empty = make_sdist(tmp_path / "empty.tar.gz", {})
    with pytest.raises(SystemExit, match="pip download"):
        bs.main(["--sdist", str(empty), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="before --cutoff"):
        bs.main(["--sdist", str(sdist), "--out", str(tmp_path / "x"), "--gap-end", "2020-01-01"])
    with pytest.raises(SystemExit, match="widen --window"):
        bs.main(["--sdist", str(sdist), "--out", str(tmp_path / "x"), "--window", "1"])


def test_strata_split_auroc_by_genre(tmp_path: Path) -> None:
    import pandas as pd

    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    run.mkdir()
    # members: feature notes; non-members: patch notes, plus a few feature notes. "loss" only
    # tells the genres apart, so within the feature stratum it is at chance (ties: 0.5).
    releases = {"members": ["4.2.txt"] * 8, "nonmembers": ["5.2.3.txt"] * 8 + ["5.2.txt"] * 4}
    ids, rows = [], []
    for side, names in releases.items():
        lines = []
        for k, release in enumerate(names):
            ids.append((f"{side}{k}", side == "members", strata.genre(release)))
            lines.append(json.dumps({"id": f"{side}{k}", "release": release}))
        (data / f"{side}.jsonl").write_text("\n".join(lines) + "\n")
    for i, member, g in ids:
        label = "member" if member else "nonmember"
        rows.append({"id": i, "label": label, "loss": float(g == "feature")})
    pd.DataFrame(rows).to_parquet(run / "scores.parquet")
    blind = [{"id": r["id"], "label": r["label"], "char_ngrams": 0.5} for r in rows]
    pd.DataFrame(blind).to_parquet(run / "blind_scores.parquet")

    assert strata.genre("4.2.txt") == "feature"
    assert strata.genre("4.2.11.txt") == strata.genre("security.txt") == "patch"
    out = strata.table(strata.load(data, run))
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["all"][1:4] == ["8", "12", "0.833"]  # 8 x 8 + 8 x 4 x 0.5 of 96 pairs
    assert lines["feature"][1:4] == ["8", "4", "0.500"]
    assert "patch" not in lines  # one class only: no AUROC
    assert "[blind] char_ngrams" in out and "win_k" not in out
    by_side = strata.table(strata.load(data, run), target="feature", by="side", columns=["loss"])
    rows_by_side = {line.split()[0]: line.split() for line in by_side.splitlines()}
    assert rows_by_side["all"][1:4] == ["12", "8", "1.000"]  # loss is the genre exactly
    assert rows_by_side["nonmembers"][1:4] == ["4", "8", "1.000"]
    assert "members" not in rows_by_side  # all members are feature notes
