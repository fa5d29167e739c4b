"""Golden outputs: complete runs give today's numbers, to the last bit that is deterministic.

``golden.json`` holds, for each run of :data:`make_golden.RUNS` (tiny in-process models, CPU,
fp32), every score per sample id and attack, every number of ``metrics.json``, the out-of-fold
blind scores and the leaderboard of ``report.html``. It was captured at the baseline commit
before issue 11's refactor (23acaf3). A refactor must leave all of it unchanged; a change that
is *meant* to move numbers regenerates the fixture (see ``make_golden.py``) and says why in its
commit message.

Tolerances: scores to 1e-9 relative, ``metrics.json`` numbers to 1e-12 relative (integers and
booleans exactly), leaderboard cells exactly. CPU fp32 here is bit-for-bit deterministic from
run to run; the slack only absorbs a reordered floating-point sum in a refactored helper.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest

from golden.make_golden import FORMAT, GOLDEN, RUNS, capture_all

SCORE_RTOL = 1e-9
METRIC_RTOL = 1e-12

#: Keys of ``metrics.json`` renamed on purpose: old path prefix -> new path prefix. The pinned
#: values stay those of the fixture, read under the new name (add the issue to each entry).
KEY_RENAMES: dict[str, str] = {}

#: Numeric keys of ``metrics.json`` added on purpose since the fixture was captured (regular
#: expressions on the flattened path, with the issue); they are not compared.
NEW_KEYS: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT, "golden.json has another format: regenerate it"
    return data["runs"]


@pytest.fixture(scope="module")
def actual() -> dict[str, Any]:
    return capture_all()


def renamed(path: str) -> str:
    for old, new in KEY_RENAMES.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old) :]
    return path


def close(expected: Any, got: Any, rtol: float) -> bool:
    if expected is None or got is None:  # NaN is stored as null
        return expected is None and got is None
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, int) and isinstance(got, int):
        return expected == got
    return math.isclose(float(expected), float(got), rel_tol=rtol, abs_tol=0.0)


def diff_values(expected: dict[str, Any], got: dict[str, Any], rtol: float, what: str) -> list[str]:
    problems = [f"{what}{k}: missing (expected {v!r})" for k, v in expected.items() if k not in got]
    problems += [
        f"{what}{k}: {got[k]!r}, expected {v!r}"
        for k, v in expected.items()
        if k in got and not close(v, got[k], rtol)
    ]
    return problems


def score_problems(expected: dict[str, Any], got: dict[str, Any], what: str) -> list[str]:
    problems = [
        f"{what}{key}: {got[key]}, expected {expected[key]}"
        for key in ("ids", "labels", "columns")
        if got[key] != expected[key]
    ]
    ids = expected["ids"]
    for column, values in expected["values"].items():
        if column in got["values"] and len(got["values"][column]) == len(values):
            problems += diff_values(
                dict(zip(ids, values, strict=True)),
                dict(zip(ids, got["values"][column], strict=True)),
                SCORE_RTOL,
                f"{what}{column}/",
            )
    return problems


def report(problems: list[str]) -> str:
    shown = problems[:40]
    more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return (
        f"{len(problems)} golden value(s) differ from tests/golden/golden.json:\n"
        + "\n".join(shown)
        + more
        + "\nA refactor must not change them; if the change is meant to, regenerate with "
        "tests/golden/make_golden.py and give the reason in the commit message."
    )


@pytest.mark.parametrize("run", list(RUNS))
def test_scores(golden, actual, run):
    problems = score_problems(golden[run]["scores"], actual[run]["scores"], "scores/")
    assert not problems, report(problems)


@pytest.mark.parametrize("run", list(RUNS))
def test_blind_scores(golden, actual, run):
    expected = golden[run].get("blind_scores")
    got = actual[run].get("blind_scores")
    assert (expected is None) == (got is None), "blind_scores.parquet appeared or vanished"
    if expected is not None:
        problems = score_problems(expected, got, "blind_scores/")
        assert not problems, report(problems)


@pytest.mark.parametrize("run", list(RUNS))
def test_metrics_json_numbers(golden, actual, run):
    expected = {renamed(k): v for k, v in golden[run]["metrics"].items()}
    got = actual[run]["metrics"]
    problems = diff_values(expected, got, METRIC_RTOL, "metrics.json: ")
    problems += [
        f"metrics.json: {k}: new number {v!r} (not in the fixture; see NEW_KEYS)"
        for k, v in got.items()
        if k not in expected and not any(re.search(p, k) for p in NEW_KEYS)
    ]
    assert not problems, report(problems)


@pytest.mark.parametrize("run", list(RUNS))
def test_report_leaderboard(golden, actual, run):
    expected, got = golden[run]["leaderboard"], actual[run]["leaderboard"]
    assert got["rows"], "no leaderboard table found in report.html"
    problems = [
        f"report.html leaderboard row {i}: {g}, expected {e}"
        for i, (e, g) in enumerate(zip(expected["rows"], got["rows"], strict=False))
        if e != g
    ]
    if len(expected["rows"]) != len(got["rows"]):
        problems.append(f"report.html: {len(got['rows'])} rows, expected {len(expected['rows'])}")
    if expected["note_numbers"] != got["note_numbers"]:
        problems.append(
            f"report.html leaderboard notes: numbers {got['note_numbers']}, "
            f"expected {expected['note_numbers']}"
        )
    assert not problems, report(problems)


def test_fixture_is_small_and_covers_every_family(golden):
    assert GOLDEN.stat().st_size < 200_000
    attacks = {a for run in golden.values() for a in run["scores"]["columns"]}
    for name in (
        "loss", "zlib", "lowercase", "reference", "reference_ratio", "binoculars",
        "fast_detectgpt_ref", "recall", "con_recall", "dc_pdd", "neighborhood",
        "neighborhood_causal",
    ):  # fmt: skip
        assert name in attacks, name
    assert any("blind_summary/permutation_p" in run["metrics"] for run in golden.values())
    assert any("blind_scores" in run for run in golden.values())
