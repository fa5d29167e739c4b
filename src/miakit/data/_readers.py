"""Readers that turn one input file or folder into a table of raw rows.

Each reader knows one format and nothing about samples: it returns the column names and, per
row, the raw values and where the row is. :mod:`miakit.data.loaders` turns rows into samples.
Text files are decoded here, as strict UTF-8, so that every format reports bad bytes the same way.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miakit.data._messages import json_type, listing
from miakit.errors import DataError

# JSON's own whitespace; str.strip() would also strip e.g. U+00A0, which JSON rejects.
_JSON_WHITESPACE = " \t\r\n"
# csv's default field limit (131072 characters) is too small for documents. The limit is a C
# long, which has 32 bits on Windows, so sys.maxsize would overflow there.
_CSV_FIELD_LIMIT = 2**31 - 1
_HF_MARKERS = ("dataset_info.json", "state.json")


@dataclass(frozen=True)
class RawRow:
    """One row of an input, before it becomes a sample.

    Attributes:
        source: where the row is, e.g. ``"members.jsonl:12"``; becomes ``Sample.source``.
        number: 1-based number for generated ids: the line (JSON Lines) or data row (others).
        values: column name -> value, as the format delivers it.
    """

    source: str
    number: int
    values: dict[str, Any]


@dataclass(frozen=True)
class RawTable:
    """The rows of one input and all column names, in order of first appearance."""

    columns: tuple[str, ...]
    rows: tuple[RawRow, ...]


def decode_utf8(data: bytes, path: Path) -> str:
    """Decode ``data`` read from ``path`` as strict UTF-8, dropping a leading byte-order mark.

    A byte-order mark is an encoding marker that editors such as Excel write, not text.

    Raises:
        DataError: the bytes are not valid UTF-8; names the file, byte offset and line.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        bad = data[e.start : e.end]
        fixed = path.with_name(f"{path.stem}.utf8{path.suffix}")
        raise DataError(
            f"{path}: invalid UTF-8 at byte offset {e.start} (line {line}): {bad!r} ({e.reason}). "
            "miakit reads inputs as strict UTF-8 instead of guessing an encoding, because "
            "mis-decoded text changes the scores. Re-encode the file, e.g. if it is Latin-1: "
            f"iconv -f latin1 -t utf-8 {shlex.quote(str(path))} > {shlex.quote(str(fixed))}"
        ) from None
    return text.removeprefix("\ufeff")


def _columns(rows: list[RawRow]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row.values))
    return tuple(seen)


def read_jsonl(path: Path) -> RawTable:
    """Read JSON Lines: one object per line; blank lines are skipped."""
    text = decode_utf8(path.read_bytes(), path)
    rows: list[RawRow] = []
    bad: list[str] = []
    # Split on "\n" only: str.splitlines() would also split on U+2028, U+0085, ... which
    # json.dumps(ensure_ascii=False) leaves unescaped inside strings.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_JSON_WHITESPACE):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append(f"line {lineno}, column {e.colno}: {e.msg}")
            continue
        if not isinstance(obj, dict):
            bad.append(f"line {lineno}: {json_type(obj)}, not an object")
            continue
        rows.append(RawRow(f"{path.name}:{lineno}", lineno, obj))
    if bad:
        raise DataError(
            f"{path}: malformed JSON Lines: {listing(bad)}. Each non-blank line must hold one "
            'JSON object, such as {"id": "a1", "text": "..."}.'
        )
    return RawTable(_columns(rows), tuple(rows))


def read_json(path: Path) -> RawTable:
    """Read a JSON file that holds one list of objects."""
    text = decode_utf8(path.read_bytes(), path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}."
        ) from None
    if not isinstance(data, list):
        raise DataError(
            f"{path}: expected a JSON list of objects, found {json_type(data)}. Write a list "
            '[{"id": ..., "text": ...}, ...] or one object per line in a .jsonl file.'
        )
    bad = [
        f"item {i}: {json_type(obj)}" for i, obj in enumerate(data, 1) if not isinstance(obj, dict)
    ]
    if bad:
        raise DataError(f"{path}: expected every list item to be an object; found {listing(bad)}.")
    rows = [RawRow(f"{path.name}:row {i}", i, obj) for i, obj in enumerate(data, 1)]
    return RawTable(_columns(rows), tuple(rows))


@contextlib.contextmanager
def _csv_field_limit() -> Iterator[None]:
    # The limit is process-wide, so restore it: other code may rely on the default.
    old = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def read_csv(path: Path) -> RawTable:
    """Read comma-separated values with a header row; blank lines are skipped.

    Row sources are the file line where the record starts, which differs from the data row
    number when quoted fields span several lines.
    """
    text = decode_utf8(path.read_bytes(), path)
    rows: list[RawRow] = []
    bad: list[str] = []
    header: list[str] | None = None
    # newline="" keeps "\r\n" and "\r" inside quoted fields exactly as written.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    with _csv_field_limit():
        start = 1
        n_data = 0
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record:  # a blank line is not a record
                    continue
                if header is None:
                    header = record
                    continue
                n_data += 1
                if len(record) != len(header):
                    s = "" if len(record) == 1 else "s"
                    bad.append(f"line {line}: {len(record)} field{s}, the header has {len(header)}")
                    continue
                rows.append(RawRow(f"{path.name}:{line}", n_data, dict(zip(header, record))))
        except csv.Error as e:
            raise DataError(f"{path}: malformed CSV at line {reader.line_num}: {e}.") from None
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row such as 'id,text'.")
    dups = sorted({name for name in header if header.count(name) > 1})
    if dups:
        raise DataError(f"{path}: duplicate column names in the header: {listing(dups)}.")
    if bad:
        raise DataError(
            f"{path}: rows with the wrong number of fields: {listing(bad)}. Quote fields that "
            'contain commas, quotes or newlines ("a, b"), doubling quotes inside them ("").'
        )
    return RawTable(tuple(header), tuple(rows))


def read_parquet(path: Path) -> RawTable:
    """Read a Parquet file with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        records = table.to_pylist()
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: could not read the Parquet file: {e}") from e
    rows = [RawRow(f"{path.name}:row {i}", i, rec) for i, rec in enumerate(records, 1)]
    return RawTable(tuple(table.column_names), tuple(rows))


def is_hf_dataset_dir(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``datasets.Dataset.save_to_disk``."""
    return any((path / name).is_file() for name in (*_HF_MARKERS, "dataset_dict.json"))


def read_hf_dir(path: Path) -> RawTable:
    """Read a folder written by ``datasets.Dataset.save_to_disk`` (needs ``datasets``)."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{path} is a folder saved by datasets' save_to_disk; reading it needs the "
            "'datasets' package: pip install 'miakit[datasets]'"
        ) from None
    try:
        ds = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: could not load the saved dataset: {e}") from e
    if isinstance(ds, datasets.DatasetDict):
        splits = ", ".join(str(path / name) for name in ds)
        raise DataError(f"{path} holds several splits; pass one of them: {splits}.")
    records = ds.with_format(None).to_list()
    rows = [RawRow(f"{path.name}:row {i}", i, rec) for i, rec in enumerate(records, 1)]
    return RawTable(tuple(ds.column_names), tuple(rows))


def read_txt_dir(path: Path, *, text_field: str, id_field: str) -> RawTable:
    """Read a folder of ``.txt`` files: one sample per file, id = file name, sorted by name.

    Hidden entries (names starting with ".") are ignored; any other entry is an error, so that
    a file in the wrong format is never skipped silently.
    """
    entries = sorted(
        (e for e in path.iterdir() if not e.name.startswith(".")), key=lambda e: e.name
    )
    files = [e for e in entries if e.is_file() and e.suffix.lower() == ".txt"]
    others = [e.name + ("/" if e.is_dir() else "") for e in entries if e not in files]
    if others:
        raise DataError(
            f"{path}: a folder input may hold only .txt files (one sample each), but it also "
            f"holds {listing(others)}. Move them elsewhere; hidden files are ignored."
        )
    if not files:
        raise DataError(f"{path}: the folder holds no .txt files.")
    rows = [
        RawRow(
            f"{path.name}/{f.name}",
            i,
            {id_field: f.name, text_field: decode_utf8(f.read_bytes(), f)},
        )
        for i, f in enumerate(files, 1)
    ]
    return RawTable((id_field, text_field), tuple(rows))
