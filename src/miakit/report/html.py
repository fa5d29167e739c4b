"""The HTML report of a run: one self-contained ``report.html``.

The file needs nothing outside itself: CSS, the few lines of JavaScript and the figures (SVG)
are inline, and it holds no URL at all. A Content-Security-Policy in the page forbids every
network request and lets only the report's own script run (pinned by its SHA-256), so even a
sample text that slipped past escaping could not execute.

Every string from the data (texts, ids, paths, attack names, warnings) is escaped by Jinja2's
autoescaping; the template marks only the generated SVGs as safe.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from miakit._core.io import atomic_write_text
from miakit.errors import DataError

__all__ = ["render_report", "write_report"]

REPORT_NAME = "report.html"
_REQUIRED = ("metrics.json", "scores.parquet", "samples.parquet")


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("miakit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["ci"] = _ci
    env.filters["score"] = _score
    return env


def _num(x: Any, digits: int = 3) -> str:
    if x is None or isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x):
        return "—"
    return f"{x:.{digits}f}"


def _ci(ci: Any) -> str:
    if not ci or len(ci) != 2 or any(_num(v) == "—" for v in ci):
        return ""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _score(x: float) -> str:
    return f"{x:.4f}" if abs(x) < 1e5 else f"{x:.4g}"


def _sha256_source(text: str) -> str:
    """A CSP source expression pinning an inline script: ``'sha256-<base64>'``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_report(
    metrics: Mapping[str, Any],
    scores_df: pd.DataFrame,
    samples_df: pd.DataFrame | None,
    *,
    blind_scores_df: pd.DataFrame | None = None,
) -> str:
    """The report as an HTML string.

    Args:
        metrics: the content of ``metrics.json`` (see :func:`miakit.pipeline.run`); optional
            keys ``blind`` (baseline name -> metrics, like ``attacks``) and ``blind_summary``
            are shown when present.
        scores_df: ``scores.parquet``: ``id``, ``label`` (member / nonmember / unknown) and
            one float column per attack (blind baselines may be here as ``blind:<name>``).
        samples_df: ``samples.parquet`` (``id``, ``text``, ``source``, ...), for the sample
            explorer's texts; ``None`` shows ids and scores only.
        blind_scores_df: ``blind_scores.parquet``: ``id``, ``label`` and one column per blind
            baseline, matched to ``scores_df`` by ``id``.

    Returns:
        A complete, self-contained HTML document.

    Raises:
        DataError: if ``scores_df`` lacks ``id``/``label`` or has unknown labels.
    """
    from miakit.report._context import build_context

    env = _env()
    script = env.get_template("report.js.j2").render()
    context = build_context(metrics, scores_df, samples_df, blind_scores_df)
    return env.get_template("report.html.j2").render(**context, script_hash=_sha256_source(script))


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"cannot read {path}: {exc}") from None


def _read_run(
    run_dir: Path,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    if not run_dir.is_dir():
        raise DataError(
            f"no run folder at {run_dir}: pass the --out folder of `miakit run` "
            "(it holds metrics.json, scores.parquet and samples.parquet)"
        )
    missing = [name for name in _REQUIRED if not (run_dir / name).is_file()]
    if missing:
        raise DataError(
            f"{run_dir} has no {' or '.join(missing)}; a report needs {', '.join(_REQUIRED)} "
            "as written by `miakit run`. Pass the run's --out folder, or re-run it."
        )
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{run_dir / 'metrics.json'} is not valid JSON: {exc}") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("attacks"), dict):
        raise DataError(
            f"{run_dir / 'metrics.json'} has no 'attacks' object; is it a miakit run's output?"
        )
    blind = run_dir / "blind_scores.parquet"
    return (
        metrics,
        _read_parquet(run_dir / "scores.parquet"),
        _read_parquet(run_dir / "samples.parquet"),
        _read_parquet(blind) if blind.is_file() else None,
    )


def write_report(
    run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None
) -> Path:
    """Render the report of a run folder and write it atomically.

    Args:
        run_dir: a folder written by ``miakit run`` (``metrics.json``, ``scores.parquet``,
            ``samples.parquet``; ``blind_scores.parquet`` when blind baselines ran).
        out: the file to write; default ``run_dir / "report.html"``.

    Returns:
        The path of the written report.

    Raises:
        DataError: if a file is missing or unreadable (the message names it).
    """
    run_dir = Path(run_dir)
    metrics, scores_df, samples_df, blind_scores_df = _read_run(run_dir)
    html = render_report(metrics, scores_df, samples_df, blind_scores_df=blind_scores_df)
    target = Path(out) if out is not None else run_dir / REPORT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, html)
    return target
