"""A seeded random member/non-member split of one corpus: the design without distribution shift.

Membership results are only evidence of membership when members and non-members come from the
same distribution. Sets assembled separately (texts from before vs after a model's cut-off,
from different sources or with different formatting) differ in ways a model-free classifier
can see, and attacks then measure that difference (arXiv 2406.16201). Drawing the members at
random from one corpus removes the shift by construction: every text had the same chance of
becoming a member, so the two sets differ only by chance.

The split is only meaningful *before* training: the members must then actually be trained on,
and the non-members kept out of every training set (including pre-training, if the corpus may
be in it). Splitting a corpus the model has already seen, or never seen, produces labels that
say nothing about the model. ``manifest.json`` records the input's hash, the seed and the hash
of the member ids so that the split can be checked and redone later.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from miakit._core.io import atomic_write_text
from miakit._core.version import __version__
from miakit.data.loaders import load_samples
from miakit.data.schema import Label, Sample, SampleSet
from miakit.errors import DataError, InvalidParameterError, did_you_mean

PathLike = str | os.PathLike[str]

MEMBERS_FILE = "members.jsonl"
NONMEMBERS_FILE = "nonmembers.jsonl"
MANIFEST_FILE = "manifest.json"
# Passed as the label column when loading, so that any real label column is ignored (it lands
# in the metadata and is dropped): a split assigns labels, it never reads them.
_NO_LABEL_COLUMN = "\x00miakit-split: input labels are ignored"
_RESERVED = ("id", "text", "label", "group", "doc_id")


def split_samples(
    samples: Sequence[Sample],
    *,
    fraction: float = 0.5,
    seed: int = 0,
    stratify: str | None = None,
) -> tuple[list[Sample], list[Sample]]:
    """Split samples at random into members and non-members.

    Each stratum (all samples when ``stratify`` is ``None``) is shuffled with
    ``numpy.random.default_rng(seed)`` and its first ``fraction * n`` samples become members.
    When ``fraction * n`` is not whole, the stratum gets the floor or the ceiling, the ceiling
    with probability equal to the fractional part (drawn from the same generator), so that
    many small strata still give ``fraction`` overall in expectation. Strata are processed in
    the sorted order of their JSON-encoded values, so the result depends only on the samples,
    their order and the seed.

    Args:
        samples: the corpus; existing labels are ignored.
        fraction: the share of each stratum that becomes members, in ``(0, 1)``.
        seed: the generator's seed.
        stratify: ``"group"``, ``"doc_id"`` or a metadata column; samples missing it form one
            stratum of their own.

    Returns:
        ``(members, nonmembers)``, each in input order, labelled ``member`` / ``nonmember``.

    Raises:
        InvalidParameterError: ``fraction`` not in ``(0, 1)``, a bad seed, or a ``stratify``
            column that no sample has.
        DataError: one side would be empty.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InvalidParameterError(f"fraction must be a number in (0, 1); got {fraction!r}.")
    if not 0.0 < float(fraction) < 1.0:
        raise InvalidParameterError(f"fraction must be in (0, 1), exclusive; got {fraction!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer; got {seed!r}.")
    strata = _strata(samples, stratify)
    rng = np.random.default_rng(seed)
    is_member = np.zeros(len(samples), dtype=bool)
    for key in sorted(strata):
        idx = np.asarray(strata[key], dtype=np.int64)  # (n_stratum,) positions in samples
        want = float(fraction) * idx.size
        k = math.floor(want + 1e-9)
        if want - k > 1e-9 and rng.random() < want - k:
            k += 1
        is_member[idx[rng.permutation(idx.size)[:k]]] = True
    members = [dataclasses.replace(s, label=Label.MEMBER) for s, m in zip(samples, is_member) if m]
    nonmembers = [
        dataclasses.replace(s, label=Label.NONMEMBER) for s, m in zip(samples, is_member) if not m
    ]
    if not members or not nonmembers:
        raise DataError(
            f"the split of {len(samples)} sample(s) at fraction {fraction} left "
            f"{len(members)} member(s) and {len(nonmembers)} non-member(s); both sets need "
            "samples. Use a larger corpus or a fraction nearer 0.5."
        )
    return members, nonmembers


def write_split(
    input: PathLike,
    out: PathLike,
    *,
    fraction: float = 0.5,
    seed: int = 0,
    stratify: str | None = None,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Split one corpus file or folder and write ``members.jsonl``, ``nonmembers.jsonl`` and
    ``manifest.json`` to ``out``.

    The input is any format :func:`~miakit.data.load_samples` reads. Its label column, if any,
    is ignored and not copied. Each output line holds ``id``, ``text``, the new ``label``
    (``member`` / ``nonmember``, so the files load with ``--members``/``--nonmembers`` or
    concatenated with ``--data``), ``group`` and ``doc_id`` when set, and every other input
    column unchanged. See the module docstring for why and when to split.

    Manifest keys: ``miakit_version``, ``method``, ``input`` (the path as given),
    ``input_sha256`` (of the file's bytes; for a folder, of the sorted lines
    ``relative/path<TAB>sha256-of-file``), ``fraction``, ``seed``, ``stratify``, ``counts``
    (``total``, ``members``, ``nonmembers`` and, when stratified, ``strata``: per stratum
    value the same three counts), ``member_ids_sha256`` and ``nonmember_ids_sha256`` (sha256
    of the ids in file order, each followed by ``"\\n"``, UTF-8), ``files`` and ``note``.

    Args:
        input: the corpus.
        out: output folder (created if needed).
        fraction, seed, stratify: see :func:`split_samples`.
        text_field, id_field, label_field: column names in the input.
        overwrite: replace existing split files in ``out``. Off by default: a split that was
            already used for training must not be silently replaced.

    Returns:
        The manifest (also written to ``out/manifest.json``).

    Raises:
        DataError: unreadable input, bad rows (see :func:`~miakit.data.load_samples`),
            duplicate ids, a metadata column named like an output field, existing output files
            without ``overwrite``, or an empty side.
        InvalidParameterError: see :func:`split_samples`.
    """
    src, dest = Path(input), Path(out)
    existing = [dest / f for f in (MEMBERS_FILE, NONMEMBERS_FILE, MANIFEST_FILE)]
    existing = [p for p in existing if p.exists()]
    if existing and not overwrite:
        raise DataError(
            f"{dest} already holds a split ({', '.join(p.name for p in existing)}). A split "
            "that was used for training must not be replaced; choose another --out, or pass "
            "--overwrite (overwrite=True) if this one was never used."
        )
    samples = load_samples(
        src,
        label=Label.UNKNOWN,
        text_field=text_field,
        id_field=id_field,
        label_field=_NO_LABEL_COLUMN,
    )
    SampleSet.of(samples).require_unique_ids()
    members, nonmembers = split_samples(samples, fraction=fraction, seed=seed, stratify=stratify)
    member_rows = [_row(s, label_field) for s in members]
    nonmember_rows = [_row(s, label_field) for s in nonmembers]

    counts: dict[str, Any] = {
        "total": len(samples),
        "members": len(members),
        "nonmembers": len(nonmembers),
    }
    if stratify is not None:
        strata: dict[str, dict[str, int]] = {}
        for side, group in (("members", members), ("nonmembers", nonmembers)):
            for s in group:
                c = strata.setdefault(_stratum_name(s, stratify), dict.fromkeys(counts, 0))
                c["total"] += 1
                c[side] += 1
        counts["strata"] = {k: strata[k] for k in sorted(strata)}
    manifest = {
        "miakit_version": __version__,
        "method": "random",
        "input": str(input),
        "input_sha256": _path_sha256(src),
        "fraction": float(fraction),
        "seed": seed,
        "stratify": stratify,
        "counts": counts,
        "member_ids_sha256": _ids_sha256(s.id for s in members),
        "nonmember_ids_sha256": _ids_sha256(s.id for s in nonmembers),
        "files": {"members": MEMBERS_FILE, "nonmembers": NONMEMBERS_FILE},
        "note": (
            "Labels of the input were ignored. This split is meaningful only if made before "
            "training: train on the members, keep the non-members out of all training data."
        ),
    }
    dest.mkdir(parents=True, exist_ok=True)
    _write_jsonl(dest / MEMBERS_FILE, member_rows)
    _write_jsonl(dest / NONMEMBERS_FILE, nonmember_rows)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    _atomic_text(dest / MANIFEST_FILE, text)
    return manifest


def _strata(samples: Sequence[Sample], column: str | None) -> dict[str, list[int]]:
    """Stratum name -> positions of its samples."""
    if column is None:
        return {"": list(range(len(samples)))}
    columns = {k for s in samples for k in s.metadata}
    columns |= {"group"} if any(s.group is not None for s in samples) else set()
    columns |= {"doc_id"} if any(s.doc_id is not None for s in samples) else set()
    if column not in columns:
        available = sorted(columns)
        raise InvalidParameterError(
            f"stratify column {column!r} is not in the input; columns available: "
            f"{available}.{did_you_mean(column, available)}"
        )
    out: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        out.setdefault(_stratum_name(s, column), []).append(i)
    return out


def _stratum_name(s: Sample, column: str) -> str:
    """A sample's stratum as a JSON string (``null`` when the value is missing)."""
    if column == "group":
        value: Any = s.group
    elif column == "doc_id":
        value = s.doc_id
    else:
        value = s.metadata.get(column)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _row(s: Sample, label_field: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": s.id, "text": s.text, "label": s.label.value}
    if s.group is not None:
        row["group"] = s.group
    if s.doc_id is not None:
        row["doc_id"] = s.doc_id
    for key, value in s.metadata.items():
        if key == label_field:
            continue  # the input's labels are ignored, not copied
        if key in _RESERVED:
            raise DataError(
                f"{s.source or s.id}: input column {key!r} would collide with the output field "
                f"of the same name ({', '.join(_RESERVED)} are written by the split). Rename "
                "that column, or name the text/id columns with --text-field/--id-field."
            )
        row[key] = value
    return row


def _ids_sha256(ids: Any) -> str:
    h = hashlib.sha256()
    for sid in ids:
        h.update(sid.encode("utf-8") + b"\n")
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _path_sha256(path: Path) -> str:
    if path.is_file():
        return _file_sha256(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\t{_file_sha256(p)}\n".encode())
    return h.hexdigest()


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    _atomic_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _atomic_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


__all__ = ["split_samples", "write_split"]
