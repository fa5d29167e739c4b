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
import functools
import hashlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from miakit._core.io import atomic_write_text
from miakit.results import RunRecord

__all__ = ["render_record", "render_report", "write_report"]

REPORT_NAME = "report.html"


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    """The report's template environment, made once per process: its compiled templates are
    kept (compiling them is most of a small report's rendering time)."""
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
    dataset_inference: Mapping[str, Any] | None = None,
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
        dataset_inference: the content of ``dataset_inference.json``; when given, the report
            has a "Dataset inference" section (:mod:`miakit.report._dataset_inference`).

    Returns:
        A complete, self-contained HTML document.

    Raises:
        DataError: if ``scores_df`` lacks ``id``/``label`` or has unknown labels.
    """
    from miakit.report._context import build_context

    env = _env()
    script = env.get_template("report.js.j2").render()
    from miakit.report._dataset_inference import section

    context = build_context(metrics, scores_df, samples_df, blind_scores_df)
    context["dataset_inference"] = section(dataset_inference)  # issue 13
    return env.get_template("report.html.j2").render(**context, script_hash=_sha256_source(script))


def render_record(record: RunRecord, *, dataset_inference: Mapping[str, Any] | None = None) -> str:
    """The report of a run's in-memory record (nothing is read from disk).

    The same page as :func:`render_report` on the files written from ``record``.
    """
    frames = record.frames()
    return render_report(
        record.metrics, frames.scores, frames.samples, blind_scores_df=frames.blind,
        dataset_inference=dataset_inference,
    )  # fmt: skip


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    record: RunRecord | None = None,
    dataset_inference: Mapping[str, Any] | None = None,
) -> Path:
    """Render the report of a run folder and write it atomically.

    Args:
        run_dir: a folder written by ``miakit run`` (``metrics.json``, ``scores.parquet``,
            ``samples.parquet``; ``blind_scores.parquet`` when blind baselines ran).
        out: the file to write; default ``run_dir / "report.html"``.
        record: the run's record in memory (the run itself passes it): the report is
            rendered from it and nothing in ``run_dir`` is read. Default: read the folder
            (:meth:`miakit.results.RunRecord.load`).
        dataset_inference: the content of a ``dataset_inference.json`` to show. Default:
            none with ``record``; without it, ``run_dir/dataset_inference.json`` when the
            folder has one (the demo's verdict, or one copied there).

    Returns:
        The path of the written report.

    Raises:
        DataError: if a file is missing or unreadable (the message names it).
    """
    run_dir = Path(run_dir)
    if record is None:
        from miakit.report._dataset_inference import read

        record = RunRecord.load(run_dir)
        if dataset_inference is None:
            dataset_inference = read(run_dir)
    html = render_record(record, dataset_inference=dataset_inference)
    target = Path(out) if out is not None else run_dir / REPORT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, html)
    return target
