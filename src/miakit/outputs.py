"""What a run writes: the sections of ``metrics.json`` and the output files.

Everything is written atomically (temporary file, then rename), so an interrupted run never
leaves a half-written output that looks complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miakit import __version__
from miakit.attacks import AttackOutput
from miakit.config import RunConfig, dump_yaml
from miakit.data import Label, SampleSet, ValidationReport
from miakit.signals.table import TokenSignals


def setup_section(
    config: RunConfig, samples: SampleSet, models_meta: Mapping[str, Any]
) -> dict[str, Any]:
    """What a reader of the results needs to know about how they were made."""
    import datetime

    return {
        "miakit_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": config.model or models_meta.get("target", {}).get("name"),
        "reference": config.reference or models_meta.get("reference", {}).get("name"),
        "performer": config.performer or models_meta.get("performer", {}).get("name"),
        "observer": config.observer or models_meta.get("observer", {}).get("name"),
        "sampling_model": config.sampling_model or models_meta.get("sampling", {}).get("name"),
        "members": config.members,
        "nonmembers": config.nonmembers,
        "data": config.data,
        "n_members": samples.count(Label.MEMBER),
        "n_nonmembers": samples.count(Label.NONMEMBER),
        "n_unknown": samples.count(Label.UNKNOWN),
        "split": config.split_method,
        "seed": config.seed,
        "n_bootstrap": config.n_bootstrap,
        "blind_permutations": config.blind_permutations,
        "max_length": config.max_length,
        "bos": config.bos,
    }


def run_warnings(samples: Mapping[str, Any], attacks: Mapping[str, Any]) -> list[str]:
    """Human-readable warnings for the terminal and the report."""
    out = []
    if samples.get("overlaps"):
        out.append(
            f"{len(samples['overlaps'])} text(s) appear among both members and non-members; "
            "they were scored because of --allow-overlap"
        )
    for key, n in samples.get("n_truncated", {}).items():
        if n:
            out.append(f"{n} text(s) were truncated to max_length for {key}")
    for name, m in attacks.items():
        if m.get("n_nan"):
            out.append(f"{name}: {m['n_nan']} sample(s) have no score (NaN); reasons in metrics")
        if m.get("error"):
            out.append(f"{name}: {m['error']}")
    return out


def samples_section_of(
    samples: SampleSet,
    report: ValidationReport,
    tables: Mapping[tuple[str, str], TokenSignals],
    outputs: Mapping[str, AttackOutput],
) -> dict[str, Any]:
    ids = samples.ids
    section: dict[str, Any] = dict(report.to_dict())
    section["n"] = len(samples)
    section["truncated"] = {
        f"{m}:{c}": [ids[i] for i in np.flatnonzero(t.truncated)] for (m, c), t in tables.items()
    }
    section["n_truncated"] = {k: len(v) for k, v in section["truncated"].items()}
    section["nan"] = {
        name: [{"id": ids[i], "reason": r} for i, r in enumerate(out.reasons) if r is not None]
        for name, out in outputs.items()
    }
    return section


def write_outputs(
    config: RunConfig,
    samples: SampleSet,
    scores: pd.DataFrame,
    metrics: dict[str, Any],
    outputs: Mapping[str, AttackOutput],
    tables: Mapping[tuple[str, str], TokenSignals],
) -> Path:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "scores.parquet", lambda p: scores.to_parquet(p, index=False))
    per_sample = pd.DataFrame(
        {
            "id": samples.ids,
            "label": [s.label.value for s in samples],
            "source": [s.source for s in samples],
            "text": samples.texts,
            "group": [s.group for s in samples],
            "doc_id": [s.doc_id for s in samples],
        }
    )
    target = tables.get(("target", "plain"))
    if target is not None:
        per_sample["n_text_tokens"] = target.n_text_tokens
        per_sample["n_scored_tokens"] = target.n_scored
        per_sample["truncated"] = target.truncated
    for name, o in outputs.items():
        per_sample[f"nan_reason:{name}"] = list(o.reasons)
    atomic_write(out / "samples.parquet", lambda p: per_sample.to_parquet(p, index=False))
    text = json.dumps(metrics, indent=2, default=_json_default, allow_nan=True)
    atomic_write(out / "metrics.json", lambda p: Path(p).write_text(text + "\n", "utf-8"))
    atomic_write(
        out / "config.resolved.yaml", lambda p: Path(p).write_text(dump_yaml(config), "utf-8")
    )
    from miakit.report.html import write_report  # matplotlib and jinja2 load only here

    write_report(out)
    return out


def write_blind_scores(out: Path, blind_scores: pd.DataFrame | None) -> None:
    """``blind_scores.parquet`` (kept apart: ``scores.parquet`` holds attacks only)."""
    path = out / "blind_scores.parquet"
    if blind_scores is None:
        path.unlink(missing_ok=True)  # a stale file from an earlier run would mislead
        return
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: blind_scores.to_parquet(p, index=False))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Label):
        return obj.value
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write(path: Path, writer: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    writer(tmp)
    os.replace(tmp, path)
