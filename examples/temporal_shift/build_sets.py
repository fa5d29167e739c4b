"""Build "before/after a date" member and non-member sets from Django's release notes.

The release notes ship in Django's source distribution on PyPI (``docs/releases/*.txt``,
BSD-3-Clause). Each note opens with its release date (``*March 2, 2021*``); every paragraph is
dated by its file. Paragraphs from releases before ``--cutoff`` become "members", paragraphs
from releases on or after ``--gap-end`` become "non-members"; the months in between are left out
so that the two sides are clearly apart.

These labels are NOT ground truth. Non-members published after SmolLM2's release cannot be in
its training data, but whether a given older paragraph is, nobody outside knows. The point of
the split is the confound: any before/after split also differs in topic and genre (recent Django
releases are mostly security fixes), and a model-free classifier can see that (arXiv
2406.16201). ``--window DAYS`` keeps only texts close to the cutoff on each side, a
regression-discontinuity design that shrinks, but does not remove, that drift.

Usage::

    .venv/bin/python examples/temporal_shift/build_sets.py \\
        --sdist django-5.2.19.tar.gz --out runs/temporal_shift/full/data

Writes ``members.jsonl`` and ``nonmembers.jsonl`` (rows ``id``, ``text``, ``date``,
``release``; miakit keeps the last two as sample metadata) and ``manifest.json`` (sdist
sha256, options, counts available and written, date ranges).

Text of a paragraph: its reST source with wrapped lines joined by single spaces (one line per
list item). Headings, directive lines (``.. note::``, ``.. _label:``), the bodies of non-prose
directives (``code-block``, ``toctree``, ...), literal blocks after ``::`` and tables are
dropped; inline markup such as ``:class:`~django.db.models.Q``` is kept verbatim.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import re
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CUTOFF = dt.date(2023, 6, 1)
DEFAULT_GAP_END = dt.date(2025, 1, 1)
DEFAULT_N = 150
DEFAULT_MIN_CHARS = 200
DEFAULT_MAX_CHARS = 1200

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# The whole line is the date: "*March 2, 2021*", "*May 17, 2010.*", "July 29, 2009",
# optionally "Released March 2, 2021". A date inside a sentence (1.6's dedication mentions
# "March 17, 2013") must not match.
_DATE_LINE = re.compile(
    rf"^\s*\*?(?:released(?: on)?:?\s+)?({_MONTHS}) (\d{{1,2}}), (\d{{4}})\.?\*?\s*$",
    re.IGNORECASE,
)
_RELEASE_PATH = re.compile(r"^[^/]+/docs/releases/([^/]+\.txt)$")
# ".. name:: argument" (a directive) or ".." followed by anything else (comment, target).
_EXPLICIT = re.compile(r"^(\s*)\.\.(?:\s+([\w:-]+)::)?(?:\s|$)")
# Directives whose body is prose worth keeping; every other body (code-block, toctree, ...)
# is dropped with its directive line.
_PROSE_DIRECTIVES = frozenset(
    {
        "admonition",
        "attention",
        "caution",
        "danger",
        "deprecated",
        "error",
        "hint",
        "important",
        "note",
        "seealso",
        "tip",
        "versionadded",
        "versionchanged",
        "warning",
    }
)
_OPTION = re.compile(r"^\s*:[\w-]+:(\s|$)")
# A section adornment: one punctuation character repeated, alone on its line.
_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_LIST_ITEM = re.compile(r"^([*+-]|\d+\.|#\.) ")
# Borders of simple ("=====  =====") and grid ("+----+----+") tables.
_TABLE_BORDER = re.compile(r"^\s*(=+( +=+)+|\+(-+\+)+|\+(=+\+)+)\s*$")


@dataclass(frozen=True)
class ReleaseNote:
    """One ``docs/releases/*.txt`` file with the date it opens with."""

    release: str
    date: dt.date
    text: str


@dataclass(frozen=True)
class Paragraph:
    """One prose paragraph of a release note.

    Attributes:
        id: ``"<release>#<k>"``, ``k`` the paragraph's 0-based index among the prose
            paragraphs of its file (before the length filter, so ids do not depend on it).
        text: the paragraph, wrapped lines joined by single spaces, one line per list item.
        date: release date of its file.
        release: file name, e.g. ``"4.2.txt"``.
    """

    id: str
    text: str
    date: dt.date
    release: str

    def row(self) -> dict[str, str]:
        return {
            "id": self.id,
            "text": self.text,
            "date": self.date.isoformat(),
            "release": self.release,
        }


def parse_release_date(text: str) -> dt.date | None:
    """The release date of a release note: its first line that is a date, or ``None``."""
    for line in text.splitlines():
        m = _DATE_LINE.match(line)
        if m:
            month = _MONTHS.split("|").index(m.group(1).capitalize()) + 1
            return dt.date(int(m.group(3)), month, int(m.group(2)))
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _prose_lines(lines: Iterable[str]) -> list[str]:
    """Drop directive lines, non-prose directive bodies and literal blocks; keep blank lines.

    A skipped block is everything after its introducer that is blank or indented deeper than
    the introducer (reST's rule for a block's extent).
    """
    out: list[str] = []
    skip_deeper_than: int | None = None
    in_options = False  # right after a kept directive: its ":option: value" lines
    for raw in lines:
        line = raw.rstrip()
        if skip_deeper_than is not None:
            if not line or _indent(line) > skip_deeper_than:
                continue
            skip_deeper_than = None
        if in_options and _OPTION.match(line):
            continue
        in_options = False
        m = _EXPLICIT.match(line)
        if m:
            out.append("")  # the directive ends the paragraph before it
            if m.group(2) in _PROSE_DIRECTIVES:
                in_options = True
            else:
                skip_deeper_than = len(m.group(1))
            continue
        if line.endswith("::"):
            # "Text::" reads "Text:", "Text ::" reads "Text" and a bare "::" vanishes;
            # the indented block after it is code.
            body = line[:-2]
            line = "" if not body.strip() else body.rstrip() if body[-1].isspace() else body + ":"
            out.extend((line, ""))
            skip_deeper_than = _indent(raw)
            continue
        out.append(line)
    return out


def _blocks(lines: Sequence[str]) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _without_headings(block: list[str]) -> list[str]:
    """Drop adornment lines and the title above each underline (overlines included)."""
    adornment = [bool(_ADORNMENT.match(line.strip())) for line in block]
    drop = list(adornment)
    for i in range(1, len(block)):
        if adornment[i] and not adornment[i - 1]:
            drop[i - 1] = True
    return [line for line, d in zip(block, drop) if not d]


def paragraphs(text: str) -> list[str]:
    """The prose paragraphs of one reST release note, in order, without a length filter."""
    out = []
    for block in _blocks(_prose_lines(text.splitlines())):
        if any(_TABLE_BORDER.match(line) for line in block):
            continue
        kept = [line.strip() for line in _without_headings(block)]
        if kept:
            # unwrap hard-wrapped lines, but keep one line per list item
            para = kept[0]
            for line in kept[1:]:
                para += ("\n" if _LIST_ITEM.match(line) else " ") + line
            out.append(para)
    return out


def read_release_notes(sdist: Path) -> tuple[list[ReleaseNote], list[str]]:
    """Read ``docs/releases/*.txt`` from a Django sdist without extracting it.

    Returns:
        The dated notes sorted by file name, and the names of notes without a date line
        (Django's oldest notes, ``index.txt`` and ``security.txt``), which are left out.

    Raises:
        SystemExit: the file is not a tar archive or holds no release notes.
    """
    notes, undated = [], []
    try:
        with tarfile.open(sdist, "r:*") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                m = _RELEASE_PATH.match(member.name)
                f = tar.extractfile(member) if m and member.isfile() else None
                if m is None or f is None:
                    continue
                text = f.read().decode("utf-8")
                date = parse_release_date(text)
                if date is None:
                    undated.append(m.group(1))
                else:
                    notes.append(ReleaseNote(m.group(1), date, text))
    except (OSError, tarfile.TarError) as e:
        raise SystemExit(f"--sdist {sdist}: cannot read it as a tar archive ({e}).") from None
    if not notes:
        raise SystemExit(
            f"--sdist {sdist}: no dated docs/releases/*.txt inside; expected Django's source "
            "distribution, e.g. `pip download --no-binary :all: --no-deps django==5.2.19 -d DIR`."
        )
    return notes, undated


def candidate_paragraphs(
    notes: Iterable[ReleaseNote], *, min_chars: int, max_chars: int
) -> list[Paragraph]:
    """Paragraphs of ``min_chars`` to ``max_chars`` characters, each text once.

    Security notes repeat paragraphs verbatim across branches and releases; a repeated text is
    kept once, dated by its earliest release (the first day it was public), so it can never
    land on both sides. Sorted by (date, release, id).
    """
    first: dict[str, Paragraph] = {}
    for note in notes:
        for k, text in enumerate(paragraphs(note.text)):
            if not min_chars <= len(text) <= max_chars:
                continue
            p = Paragraph(f"{note.release}#{k}", text, note.date, note.release)
            seen = first.get(text)
            if seen is None or (p.date, p.release) < (seen.date, seen.release):
                first[text] = p
    return sorted(first.values(), key=lambda p: (p.date, p.release, p.id))


def split_by_date(
    candidates: Iterable[Paragraph],
    *,
    cutoff: dt.date,
    gap_end: dt.date,
    window_days: int | None = None,
) -> tuple[list[Paragraph], list[Paragraph]]:
    """Members: date < cutoff; non-members: date >= gap_end; the gap is left out.

    With ``window_days``, members are in ``[cutoff - window, cutoff)`` and non-members in
    ``[gap_end, gap_end + window]``.
    """
    if gap_end < cutoff:
        raise SystemExit(f"--gap-end {gap_end} is before --cutoff {cutoff}; it must not be.")
    lo, hi = dt.date.min, dt.date.max
    if window_days is not None:
        lo, hi = cutoff - dt.timedelta(days=window_days), gap_end + dt.timedelta(days=window_days)
    members = [p for p in candidates if lo <= p.date < cutoff]
    nonmembers = [p for p in candidates if gap_end <= p.date <= hi]
    return members, nonmembers


def subsample(items: Sequence[Paragraph], *, n: int, seed: int) -> list[Paragraph]:
    """``n`` items drawn without replacement (all of them if fewer), in (date, id) order."""
    picked = list(items) if len(items) <= n else random.Random(seed).sample(list(items), n)
    return sorted(picked, key=lambda p: (p.date, p.release, p.id))


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--sdist", type=Path, required=True, help="a django-*.tar.gz sdist")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--cutoff",
        type=_date,
        default=DEFAULT_CUTOFF,
        help="members: releases before this date",
    )
    p.add_argument(
        "--gap-end",
        type=_date,
        default=DEFAULT_GAP_END,
        help="non-members: releases on or after this date",
    )
    p.add_argument(
        "--window",
        type=_positive,
        metavar="DAYS",
        help="regression discontinuity: keep members within DAYS before --cutoff and "
        "non-members within DAYS after --gap-end",
    )
    p.add_argument("--n", type=_positive, default=DEFAULT_N, help="most texts per side")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    p.add_argument("--min-chars", type=_positive, default=DEFAULT_MIN_CHARS)
    p.add_argument("--max-chars", type=_positive, default=DEFAULT_MAX_CHARS)
    return p


def _write_jsonl(path: Path, items: Iterable[Paragraph]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for p in items:
            f.write(json.dumps(p.row(), ensure_ascii=False) + "\n")


def _span(items: Sequence[Paragraph]) -> list[str] | None:
    return [items[0].date.isoformat(), items[-1].date.isoformat()] if items else None


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Build the sets; returns the manifest it writes."""
    args = build_parser().parse_args(argv)
    if args.min_chars > args.max_chars:
        raise SystemExit(f"--min-chars {args.min_chars} exceeds --max-chars {args.max_chars}.")
    notes, undated = read_release_notes(args.sdist)
    candidates = candidate_paragraphs(notes, min_chars=args.min_chars, max_chars=args.max_chars)
    pools = split_by_date(
        candidates, cutoff=args.cutoff, gap_end=args.gap_end, window_days=args.window
    )
    if not all(pools):
        raise SystemExit(
            f"no {'members' if not pools[0] else 'non-members'} between the dates given "
            f"(cutoff {args.cutoff}, gap end {args.gap_end}, window {args.window} days); "
            "widen --window or move the dates."
        )
    chosen = [subsample(pool, n=args.n, seed=args.seed) for pool in pools]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, items in zip(("members", "nonmembers"), chosen):
        _write_jsonl(args.out / f"{name}.jsonl", items)
    manifest: dict[str, object] = {
        "sdist": args.sdist.name,
        "sdist_sha256": hashlib.sha256(args.sdist.read_bytes()).hexdigest(),
        "cutoff": args.cutoff.isoformat(),
        "gap_end": args.gap_end.isoformat(),
        "window_days": args.window,
        "n": args.n,
        "seed": args.seed,
        "chars": [args.min_chars, args.max_chars],
        "release_notes": {"dated": len(notes), "undated": undated},
        "available": {"members": len(pools[0]), "nonmembers": len(pools[1])},
        "written": {"members": len(chosen[0]), "nonmembers": len(chosen[1])},
        "dates": {"members": _span(chosen[0]), "nonmembers": _span(chosen[1])},
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for side, items, pool in zip(("members", "non-members"), chosen, pools):
        span = _span(items) or ["-", "-"]
        print(
            f"{side}: {len(items)} of {len(pool)} paragraphs, {span[0]} .. {span[1]}",
            file=sys.stderr,
        )
    return manifest


if __name__ == "__main__":
    main()
