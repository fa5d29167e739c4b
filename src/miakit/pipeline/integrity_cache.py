"""The evaluation-integrity checks of a run, remembered by their inputs (issue 15).

The blind baselines and the overlap check (:func:`~miakit.blind.evaluation_integrity`) depend
only on the samples and a few settings, yet they cost seconds (3.1 s of a 3.9 s cached rerun on
the issue-15 H200 host). :class:`IntegrityCache` keeps their result as one JSON record,
``<cache dir>/integrity/<key>.json``, so a rerun on the same inputs reads it instead.

**The key** is a SHA-256 over everything the result depends on: every sample's id, text,
label and ``doc_id`` in order (the baselines fold by document); every option of the call
(blind on or off, seed, bootstrap resamples, permutations, alpha, overlap threshold); the
baselines that would run (the registered names, plugins included, and the public modules of
:mod:`miakit.blind`); the source bytes of :mod:`miakit.blind`, :mod:`miakit.data.overlap`
and :mod:`miakit.metrics` (the code that computes it); miakit's version, the installed
numpy, scipy, scikit-learn and pandas versions, and :data:`INTEGRITY_FORMAT`, bumped by hand
when the record's layout changes. A record is JSON only (no pickle), written atomically; one
that does not parse or does not match its key is ignored with a log line and computed again,
never trusted. ``--no-cache`` bypasses the cache (the run then makes none).

The record round-trips exactly: its sections are stored as the plain values
``metrics.json`` is written from (floats by their shortest exact repr, NaN as ``NaN``), the
blind scores by column with their dtype, so a cached run writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pkgutil
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from miakit._core.io import atomic_write_text
from miakit._core.version import __version__
from miakit.blind import Integrity
from miakit.blind._registry import registered_names
from miakit.data.schema import SampleSet
from miakit.results._json import plain

logger = logging.getLogger("miakit")

#: Bumped by hand whenever the record's layout or what the key covers changes.
INTEGRITY_FORMAT = "integrity-1"
#: Libraries whose version can change the numbers.
_LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas")
#: Packages and modules whose source computes the result (relative to ``miakit``).
_SOURCES = ("blind", "data/overlap.py", "metrics")


def integrity_key(samples: SampleSet, options: Mapping[str, Any]) -> str:
    """The SHA-256 naming the record of :func:`~miakit.blind.evaluation_integrity`
    ``(samples, **options)`` (see the module docstring)."""
    h = hashlib.sha256()
    head = {
        "format": INTEGRITY_FORMAT,
        "miakit": __version__,
        "libraries": {lib: _version(lib) for lib in _LIBRARIES},
        "options": {k: options[k] for k in sorted(options)},
        "baselines": _baseline_names(),
        "source": _source_digest(),
        "n": len(samples),
    }
    h.update(json.dumps(head, sort_keys=True, default=repr).encode())
    for s in samples:
        row = [s.id, s.text, s.label.value, s.doc_id]
        h.update(b"\n" + json.dumps(row, ensure_ascii=False).encode())
    return h.hexdigest()


class IntegrityCache:
    """The integrity records under ``root`` (``<cache dir>/integrity``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def read(self, samples: SampleSet, key: str) -> Integrity | None:
        """The recorded result for ``key``, or ``None`` (none, or damaged: logged)."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.info("integrity cache: cannot read %s (%s); computing again", path, exc)
            return None
        try:
            record = json.loads(text)
            if record["format"] != INTEGRITY_FORMAT or record["key"] != key:
                raise ValueError("format or key does not match")
            return _integrity_of(record, samples)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning(
                "integrity cache: ignoring damaged record %s (%s); computing again", path, exc
            )
            return None

    def write(self, key: str, integrity: Integrity) -> None:
        """Record ``integrity`` under ``key`` (atomically; a read-only or full cache keeps none)."""
        scores = None
        if integrity.blind_scores is not None:
            frame = integrity.blind_scores
            scores = {
                str(c): {"dtype": str(frame[c].dtype), "values": frame[c].tolist()}
                for c in frame.columns
                if c not in ("id", "label")
            }
        record = {
            "format": INTEGRITY_FORMAT,
            "key": key,
            "sections": plain(integrity.sections),
            "warnings": list(integrity.warnings),
            "blind_warning": integrity.blind_warning,
            "blind_scores": scores,
        }
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path(key), json.dumps(record, allow_nan=True) + "\n")
        except OSError as exc:
            logger.info("integrity cache: cannot write %s (%s)", self.path(key), exc)


def _integrity_of(record: Mapping[str, Any], samples: SampleSet) -> Integrity:
    sections = record["sections"]
    warnings = record["warnings"]
    blind_warning = record["blind_warning"]
    if not isinstance(sections, dict) or not isinstance(warnings, list):
        raise TypeError("sections must be an object and warnings a list")
    if not all(isinstance(w, str) for w in warnings):
        raise TypeError("warnings must be strings")
    if blind_warning is not None and not isinstance(blind_warning, str):
        raise TypeError("blind_warning must be a string or null")
    blind_scores = None
    if record["blind_scores"] is not None:
        import pandas as pd

        # the same construction as evaluation_integrity's, so the same dtypes
        blind_scores = pd.DataFrame({"id": samples.ids, "label": [s.label.value for s in samples]})
        for name, column in record["blind_scores"].items():
            values = np.asarray(column["values"], dtype=np.dtype(column["dtype"]))
            if values.shape != (len(samples),):
                raise ValueError(
                    f"blind scores {name!r} have {values.shape}, not ({len(samples)},)"
                )
            blind_scores[name] = values
    return Integrity(sections, warnings, blind_warning, blind_scores)


def _baseline_names() -> list[str]:
    """The baselines a default run would score, without importing them (scikit-learn)."""
    import miakit.blind as blind

    modules = {m.name for m in pkgutil.iter_modules(blind.__path__) if not m.name.startswith("_")}
    return sorted(modules | set(registered_names()))


def _source_digest() -> str:
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for rel in _SOURCES:
        top = root / rel
        files = sorted(top.rglob("*.py")) if top.is_dir() else [top]
        for f in files:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _version(library: str) -> str | None:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return None


__all__ = ["INTEGRITY_FORMAT", "IntegrityCache", "integrity_key"]
