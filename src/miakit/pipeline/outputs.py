"""What a run writes: the sections of ``metrics.json`` and the output files.

Everything is written durably and atomically (:func:`miakit._core.io.atomic_write`: temporary
file, fsync, rename, fsync of the folder), so an interrupted run never leaves a half-written
output that looks complete.
"""

from __future__ import annotations

import errno
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from miakit._core.io import atomic_write, clean_stale_temporaries
from miakit._core.timing import stage
from miakit._core.version import __version__
from miakit.config import BUILTIN_ROLES, RunConfig, dump_yaml
from miakit.data import Label, SampleSet, ValidationReport
from miakit.errors import InvalidParameterError
from miakit.results import RunRecord


def setup_section(
    config: RunConfig, samples: SampleSet, models_meta: Mapping[str, Any]
) -> dict[str, Any]:
    """What a reader of the results needs to know about how they were made.

    Each built-in role's model is under its shorthand key (``model``, ``reference``,
    ``sampling_model``...); other roles, when there are any, under ``models`` (role -> path or
    in-memory model name); roles with a PEFT adapter under ``adapters`` (role -> its folder,
    base model and fingerprint)."""
    import datetime

    def model_of(role: str) -> Any:
        ref = config.models.get(role)
        return (ref.path if ref is not None else None) or models_meta.get(role, {}).get("name")

    from miakit.pipeline.roles import adapters_meta

    builtin = {s.role for s in BUILTIN_ROLES}
    others = [r for r in (*config.models, *models_meta) if r not in builtin]
    adapters = adapters_meta(config)  # each role's PEFT adapter: folder, base, fingerprint
    return {
        "miakit_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **{s.key: model_of(s.role) for s in BUILTIN_ROLES},
        **({"models": {r: model_of(r) for r in others}} if others else {}),
        **({"adapters": adapters} if adapters else {}),
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
        "blind_alpha": config.blind_alpha,
    }


#: Sample ids named in a console warning before the rest are only counted.
MAX_IDS = 5
#: NaN-reason warnings printed before the rest are only counted (all are in metrics.json).
MAX_REASON_WARNINGS = 8


def _ids(ids: Sequence[Any]) -> str:
    """``a, b, c, d, e and 7 more``: the first :data:`MAX_IDS` ids, then a count."""
    shown = ", ".join(str(i) for i in ids[:MAX_IDS])
    rest = len(ids) - MAX_IDS
    return f"{shown} and {rest} more" if rest > 0 else shown


def _by_reason(nan: Mapping[str, Any]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """``(reason, ids) -> attacks``: attacks that gave the same samples the same reason.

    Within one attack, reasons that differ only in their numbers (a per-sample count or
    index) are one reason, shown by its first instance ("e.g. ID: ...")."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for attack, entries in nan.items():
        buckets: dict[str, list[tuple[str, str]]] = {}
        for e in entries or []:
            reason = str(e.get("reason"))
            buckets.setdefault(re.sub(r"\d+", "#", reason), []).append((str(e.get("id")), reason))
        for items in buckets.values():
            ids = tuple(i for i, _ in items)
            first_id, first = items[0]
            shown = first if all(r == first for _, r in items) else f"e.g. {first_id}: {first}"
            groups.setdefault((shown, ids), []).append(attack)
    return groups


def scored_nothing(samples: Mapping[str, Any], attacks: Mapping[str, Any]) -> list[str]:
    """The attacks that gave every sample NaN."""
    n = int(samples.get("n") or 0)
    nan = samples.get("nan") or {}
    return [name for name in attacks if n and len(nan.get(name) or []) >= n]


def scored_nothing_warnings(samples: Mapping[str, Any], attacks: Mapping[str, Any]) -> list[str]:
    """One loud warning per attack that scored no sample at all (print them boxed)."""
    out = []
    for name in scored_nothing(samples, attacks):
        entries = (samples.get("nan") or {}).get(name) or []
        counts = Counter(str(e.get("reason")) for e in entries)
        reason, k = counts.most_common(1)[0]
        more = f" ({k} of them; {len(counts) - 1} other reason(s))" if len(counts) > 1 else ""
        out.append(
            f"{name} scored nothing: all {len(entries)} samples have no score (NaN), so its "
            f"row of the leaderboard is empty. Reason: {reason}{more}. Each sample's reason "
            f"is in metrics.json (samples.nan) and samples.parquet."
        )
    return out


def run_warnings(
    samples: Mapping[str, Any], attacks: Mapping[str, Any], *, max_length: int | None = None
) -> list[str]:
    """Human-readable warnings for the terminal and the report.

    Each names the samples it is about (the first :data:`MAX_IDS` ids, then a count) and is
    given once per reason: attacks that gave the same samples the same NaN reason, and signal
    tables that truncated the same texts, share one line. Attacks that scored nothing get
    :func:`scored_nothing_warnings` instead of their metrics error.
    """
    out = []
    if samples.get("overlaps"):
        out.append(
            f"{len(samples['overlaps'])} text(s) appear among both members and non-members; "
            "they were scored because of --allow-overlap"
        )
    truncated: dict[tuple[str, ...], list[str]] = {}
    for key, ids in (samples.get("truncated") or {}).items():
        if ids:
            truncated.setdefault(tuple(map(str, ids)), []).append(key)
    limit = f"max_length={max_length}" if max_length is not None else "max_length"
    for ids, keys in truncated.items():
        out.append(
            f"{len(ids)} text(s) were truncated to {limit} (only their first tokens are "
            f"scored) for {', '.join(keys)}: {_ids(ids)}"
        )
    groups = sorted(_by_reason(samples.get("nan") or {}).items(), key=lambda g: -len(g[0][1]))
    for (reason, ids), names in groups[:MAX_REASON_WARNINGS]:
        out.append(
            f"{len(ids)} sample(s) have no score (NaN) in {', '.join(names)} ({reason}): "
            f"{_ids(ids)}"
        )
    if len(groups) > MAX_REASON_WARNINGS:
        out.append(
            f"{len(groups) - MAX_REASON_WARNINGS} more NaN reason(s): see metrics.json "
            "(samples.nan) or the report"
        )
    silent = set(scored_nothing(samples, attacks))
    for name, m in attacks.items():
        if m.get("error") and name not in silent:
            out.append(f"{name}: {m['error']}")
    return out


def samples_section_of(report: ValidationReport, record: RunRecord) -> dict[str, Any]:
    """``metrics.json``'s ``samples``: the validation counts, and by sample id the texts each
    signal table truncated and each attack's NaN reasons (from the record, in sample order)."""
    section: dict[str, Any] = dict(report.to_dict())
    section["n"] = len(record)
    section["truncated"] = {key: list(ids) for key, ids in record.truncated_ids.items()}
    section["n_truncated"] = {k: len(v) for k, v in section["truncated"].items()}
    section["nan"] = {
        name: [{"id": i, "reason": r} for i, r in record.nan_reasons(name).items()]
        for name in record.attacks
    }
    return section


def write_outputs(config: RunConfig, record: RunRecord) -> Path:
    """Write a run folder from ``record``, and the report rendered from it in memory.

    ``scores.parquet``, ``samples.parquet``, ``blind_scores.parquet`` (removed when the blind
    baselines did not run: a stale one would mislead), ``metrics.json``,
    ``config.resolved.yaml`` and ``report.html``. No file is read back.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out)  # leftovers of an earlier run that crashed while writing
    frames = record.frames()
    blind_path = out / "blind_scores.parquet"
    # the run writes no dataset_inference.json; one left by an earlier demo here describes
    # other scores, and `miakit report DIR` would show it
    (out / "dataset_inference.json").unlink(missing_ok=True)
    if frames.blind is None:
        blind_path.unlink(missing_ok=True)
    else:
        blind = frames.blind  # kept apart: scores.parquet holds attacks only
        atomic_write(blind_path, lambda p: blind.to_parquet(p, index=False))
    atomic_write(out / "scores.parquet", lambda p: frames.scores.to_parquet(p, index=False))
    atomic_write(out / "samples.parquet", lambda p: frames.samples.to_parquet(p, index=False))
    from miakit.pipeline.documents import write_documents  # documents.parquet (issue 13)

    write_documents(config, record)
    write_metrics(out, record)
    atomic_write(
        out / "config.resolved.yaml", lambda p: Path(p).write_text(dump_yaml(config), "utf-8")
    )
    with stage("report"):
        from miakit.report.html import write_report  # jinja2 loads only here

        write_report(out, record=record)
    return out


def write_metrics(out: Path, record: RunRecord) -> None:
    """``OUT/metrics.json`` from ``record`` (written again after the report, with the final
    timings)."""
    text = record.metrics_json()
    atomic_write(out / "metrics.json", lambda p: Path(p).write_text(text, "utf-8"))


_WHY = {
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "it exists and is not a folder",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
}


def os_reason(exc: OSError) -> str:
    """``exc`` in plain words, then as the system said it."""
    plain = _WHY.get(exc.errno or -1)
    return f"{plain} ({exc})" if plain else str(exc)


def check_writable(folder: Path, *, flag: str = "--out") -> None:
    """Create ``folder`` (with its parents) and write and remove a probe file in it, so that an
    unusable output or cache folder is refused before any model loads.

    Raises:
        InvalidParameterError: naming ``flag``, the folder and the reason.
    """
    probe = folder / f".miakit-write-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"miakit\n")
        probe.unlink()
    except OSError as exc:
        raise InvalidParameterError(
            f"{flag} {folder}: cannot create this folder or write in it: {os_reason(exc)}. "
            f"Choose a folder you can write to with {flag}"
            + (" (or pass --no-cache)." if flag == "--cache-dir" else ".")
        ) from exc


def write_failed_message(out: Path, exc: OSError, cache: Path | None) -> str:
    """What to tell the user when writing the results failed after the scoring."""
    if cache is not None:
        kept = (
            f"No signal is lost: every computed signal is in the signal cache ({cache}), so a "
            "rerun with the same inputs and a writable --out does no forward pass."
        )
    else:
        kept = (
            "The signals were not cached (--no-cache), so a rerun scores again; drop "
            "--no-cache to keep them."
        )
    return f"could not write the results to {out}: {os_reason(exc)}. {kept}"
