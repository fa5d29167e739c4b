"""Load samples from files and check them before anything is scored.

Formats, chosen by the path:

* ``.jsonl``: one JSON object per line; blank lines are skipped. ``.json``: a list of objects.
* ``.csv``: comma-separated with a header row; blank lines are skipped.
* ``.parquet``: read with pyarrow.
* a folder of ``.txt`` files: one sample per file, id = file name, text = the whole file.
* a folder written by ``datasets.Dataset.save_to_disk`` (needs ``pip install 'miakit[datasets]'``).

Text files are decoded as strict UTF-8. Texts are kept exactly as written (never stripped),
and a row that cannot become a sample is an error, never dropped: a silently smaller member set
would change the reported numbers without anyone noticing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from miakit.data._cells import MISSING, describe, is_null, jsonable, text_problem, to_id, to_opt_str
from miakit.data._messages import listing, quoted
from miakit.data._readers import (
    RawTable,
    is_hf_dataset_dir,
    read_csv,
    read_hf_dir,
    read_json,
    read_jsonl,
    read_parquet,
    read_txt_dir,
)
from miakit.data.schema import Label, Sample, SampleSet
from miakit.data.validate import validate
from miakit.errors import DataError, InvalidParameterError, did_you_mean

PathLike = str | os.PathLike[str]

SUPPORTED_FORMATS = (
    ".jsonl (one JSON object per line)",
    ".json (a list of objects)",
    ".csv (with a header row)",
    ".parquet",
    "a folder of .txt files",
    "a folder saved by datasets' Dataset.save_to_disk",
)

_READERS: dict[str, Callable[[Path], RawTable]] = {
    ".jsonl": read_jsonl,
    ".json": read_json,
    ".csv": read_csv,
    ".parquet": read_parquet,
}

# Kinds of row problems, in the order they are reported: (what is wrong, how to fix it).
_PROBLEM_KINDS = {
    "id": (
        "bad ids",
        "Give every row an id (a string or a number), or drop the id column to let miakit "
        "number the rows.",
    ),
    "type": ("texts that are not strings", "Store every text as a string."),
    "empty": (
        "empty or whitespace-only texts",
        "Every sample needs a text and miakit never drops rows silently: remove these rows or "
        "fill in their text.",
    ),
    "unicode": (
        "texts that are not valid Unicode",
        "Unpaired surrogate escapes such as \\ud800 cannot be encoded; remove them.",
    ),
    "conflict": (
        "labels that contradict the role the file was given",
        "Fix or remove the label column, or pass the file with the option that matches it.",
    ),
}
_ROLE = {
    Label.MEMBER: "members (--members)",
    Label.NONMEMBER: "non-members (--nonmembers)",
    Label.UNKNOWN: "unlabelled (label=unknown)",
}


@dataclass(frozen=True)
class _Fields:
    text: str
    id: str
    label: str
    group: str
    doc: str

    def __post_init__(self) -> None:
        names = {
            "text_field": self.text,
            "id_field": self.id,
            "label_field": self.label,
            "group_field": self.group,
            "doc_field": self.doc,
        }
        bad = [f"{k}={v!r}" for k, v in names.items() if not isinstance(v, str) or not v]
        clash = [f"{k}={v!r}" for k, v in names.items() if k != "text_field" and v == self.text]
        if bad or clash:
            raise InvalidParameterError(
                "column names must be non-empty strings and the text column must differ from "
                f"the others; got {', '.join(bad + clash)}."
            )


def load_samples(
    path: PathLike,
    *,
    label: Label | None = None,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    group_field: str = "group",
    doc_field: str = "doc_id",
) -> list[Sample]:
    """Load the samples of one file or folder.

    Ids: the id column converted to ``str``. When the input has no id column at all, ids are
    generated as ``f"{stem}:{n}"``, where ``stem`` is the file stem (folder name for folders)
    and ``n`` the 1-based line (JSON Lines) or data row (other formats). ``Sample.source`` is
    ``"file.jsonl:LINE"`` (JSON Lines and CSV: the file line where the row starts),
    ``"file.parquet:row N"`` (Parquet, JSON lists, saved datasets) or ``"folder/a.txt"``.

    Labels: with ``label`` given every sample gets it, and a label column, if any, must agree
    (an empty, null or ``unknown`` cell agrees with anything). With ``label=None`` the label
    column is required and parsed with :meth:`Label.parse`; empty or null cells mean unknown.

    ``group`` and ``doc_id`` columns are converted to ``str`` (empty or null: ``None``). All
    other columns go to ``Sample.metadata``, made JSON-compatible: NaN and infinities become
    ``None``, dates ISO strings, other non-JSON values their ``str()``.

    Args:
        path: a ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file, or a folder.
        label: the label of every sample, or ``None`` to read it from ``label_field``.
        text_field, id_field, label_field, group_field, doc_field: column names.

    Returns:
        The samples in file order (folders of .txt files: sorted by file name).

    Raises:
        DataError: the input is missing, unreadable, not UTF-8, lacks the text (or needed
            label) column, or has rows with bad ids, texts or labels; all bad rows are listed.
        InvalidParameterError: a column name is empty or the text column repeats another.
    """
    fields = _Fields(text_field, id_field, label_field, group_field, doc_field)
    p = Path(path)
    table = _read(p, fields)
    return _to_samples(p, table, label=label, fields=fields)


def load_inputs(
    *,
    members: PathLike | None = None,
    nonmembers: PathLike | None = None,
    data: PathLike | None = None,
    allow_overlap: bool = False,
    text_field: str = "text",
    id_field: str = "id",
    label_field: str = "label",
    group_field: str = "group",
    doc_field: str = "doc_id",
) -> SampleSet:
    """Load the inputs of a run, either one file per role or one labelled file, and validate.

    The column options are explicit keywords rather than ``**kwargs`` so that a misspelt option
    is a ``TypeError`` at the call, not silently ignored. Call :func:`validate` on the result to
    get the :class:`ValidationReport` (counts and, with ``allow_overlap``, the overlaps).

    Args:
        members: file of member samples (any label column must agree).
        nonmembers: file of non-member samples.
        data: one file whose label column says which samples are members.
        allow_overlap: accept texts present among both members and non-members.
        text_field, id_field, label_field, group_field, doc_field: column names.

    Returns:
        Members first, then non-members (or the samples of ``data`` in file order).

    Raises:
        InvalidParameterError: no input given, or ``data`` combined with members/non-members.
        DataError: see :func:`load_samples` and :func:`validate`.
        OverlapError: members and non-members share texts and ``allow_overlap`` is false.
    """
    if data is not None and (members is not None or nonmembers is not None):
        raise InvalidParameterError(
            "pass either --data (one file with a label column) or --members/--nonmembers (one "
            "file per role), not both."
        )
    if data is None and members is None and nonmembers is None:
        raise InvalidParameterError(
            "no input given: pass --members/--nonmembers (one file per role; either may be "
            "omitted) or --data (one file with a label column)."
        )

    def load(path: PathLike, label: Label | None) -> list[Sample]:
        return load_samples(
            path,
            label=label,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            group_field=group_field,
            doc_field=doc_field,
        )

    samples: list[Sample] = []
    if data is not None:
        samples += load(data, None)
    if members is not None:
        samples += load(members, Label.MEMBER)
    if nonmembers is not None:
        samples += load(nonmembers, Label.NONMEMBER)
    result = SampleSet.of(samples)
    validate(result, allow_overlap=allow_overlap)
    return result


def _read(path: Path, fields: _Fields) -> RawTable:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if path.is_dir():
        if is_hf_dataset_dir(path):
            return read_hf_dir(path)
        return read_txt_dir(path, text_field=fields.text, id_field=fields.id)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        found = repr(path.suffix) if path.suffix else "a file without extension"
        raise DataError(
            f"{path}: unsupported input format {found}. Supported: {'; '.join(SUPPORTED_FORMATS)}."
        )
    return reader(path)


def _to_samples(
    path: Path, table: RawTable, *, label: Label | None, fields: _Fields
) -> list[Sample]:
    if not table.rows:
        raise DataError(f"{path}: the input holds no samples.")
    cols = table.columns
    if fields.text not in cols:
        raise DataError(
            f"{path}: no text column {fields.text!r}; columns found: {quoted(cols)}."
            f"{did_you_mean(fields.text, cols)} Name the text column with --text-field "
            "(text_field= in Python)."
        )
    has_label = fields.label in cols
    if label is None and not has_label:
        raise DataError(
            f"{path}: no label column {fields.label!r} (columns found: {quoted(cols)}), so "
            f"members cannot be told from non-members.{did_you_mean(fields.label, cols)} Pass "
            "the files separately with --members/--nonmembers, add a label column "
            "(member/nonmember), or name it with --label-field."
        )

    stem = path.name if path.is_dir() else path.stem
    has_ids = fields.id in cols
    special = {fields.text, fields.id, fields.label, fields.group, fields.doc}
    problems: dict[str, list[str]] = {kind: [] for kind in (*_PROBLEM_KINDS, "label")}
    label_errors: list[DataError] = []
    n_bad_rows = 0
    samples: list[Sample] = []
    for row in table.rows:
        found: list[tuple[str, str]] = []  # (problem kind, description) for this row
        values = row.values
        sid: str | None = f"{stem}:{row.number}"
        if has_ids:
            raw_id = values.get(fields.id, MISSING)
            sid = to_id(raw_id)
            if sid is None:
                found.append(("id", f"{row.source}: id is {describe(raw_id)}"))
        where = row.source if sid is None else f"{row.source} (id {sid!r})"
        text = values.get(fields.text, MISSING)
        kind = text_problem(text)
        if kind is not None:
            found.append((kind, where + (f" ({describe(text)})" if kind == "type" else "")))

        file_label: Label | None = None
        raw_label = values.get(fields.label)
        if has_label and not is_null(raw_label):
            try:
                file_label = Label.parse(raw_label, where=where)
            except DataError as e:
                label_errors.append(e)
                found.append(("label", f"{where}: {raw_label!r}"))
        if (
            label is not None
            and file_label is not None
            and file_label not in (Label.UNKNOWN, label)
        ):
            found.append(
                (
                    "conflict",
                    f"{where} says {file_label.value!r} but the file was given as {_ROLE[label]}",
                )
            )

        # A bad id or text is always in `found`; the other two tests narrow the types.
        if found or sid is None or not isinstance(text, str):
            n_bad_rows += 1
            for kind, item in found:
                problems[kind].append(item)
            continue
        samples.append(
            Sample(
                id=sid,
                text=text,
                label=label if label is not None else (file_label or Label.UNKNOWN),
                group=to_opt_str(values.get(fields.group)),
                doc_id=to_opt_str(values.get(fields.doc)),
                metadata={k: jsonable(v) for k, v in values.items() if k not in special},
                source=row.source,
            )
        )
    _raise_problems(path, problems, label_errors, n_rows=n_bad_rows)
    return samples


def _raise_problems(
    path: Path,
    problems: dict[str, list[str]],
    label_errors: list[DataError],
    *,
    n_rows: int,
) -> None:
    """Raise one DataError listing every bad row, grouped by kind of problem."""
    sections = [
        f"{_PROBLEM_KINDS[kind][0]}: {listing(items)}. {_PROBLEM_KINDS[kind][1]}"
        for kind, items in problems.items()
        if items and kind in _PROBLEM_KINDS
    ]
    if label_errors:
        # Label.parse's own message explains the accepted values; list the others briefly.
        rest = problems["label"][1:]
        extra = f" Other invalid labels: {listing(rest)}." if rest else ""
        sections.append(str(label_errors[0]) + extra)
    if sections:
        s = "" if n_rows == 1 else "s"
        raise DataError(f"{path}: {n_rows} invalid row{s}:\n  " + "\n  ".join(sections))


__all__ = ["SUPPORTED_FORMATS", "load_inputs", "load_samples"]
