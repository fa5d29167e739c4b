"""A reference corpus: the documents of one file or of every supported file in a folder.

Used for token frequencies (DC-PDD). Formats, by suffix: ``.txt`` (the whole file is one
document, strict UTF-8), ``.jsonl``, ``.json``, ``.csv`` and ``.parquet`` (one document per row,
from the text column, read with miakit's readers). A folder is searched recursively; hidden
files and folders (names starting with ``.``) are skipped; files are read in sorted order.
Unlike evaluation data, empty documents are allowed (they add no tokens); a row whose text is
missing or not a string is an error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from miakit.data._readers import (
    RawTable,
    decode_utf8,
    read_csv,
    read_json,
    read_jsonl,
    read_parquet,
)
from miakit.errors import DataError

CORPUS_SUFFIXES = (".txt", ".jsonl", ".json", ".csv", ".parquet")
_TABLE_READERS: dict[str, Callable[[Path], RawTable]] = {
    ".jsonl": read_jsonl,
    ".json": read_json,
    ".csv": read_csv,
    ".parquet": read_parquet,
}


def corpus_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of a corpus: ``path`` itself, or the supported files under the folder.

    Raises:
        DataError: the path does not exist, has an unsupported suffix, or holds no files.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder (the reference corpus).")
    if p.is_file():
        if p.suffix.lower() not in CORPUS_SUFFIXES:
            raise DataError(
                f"{p}: unsupported corpus file {p.suffix!r}; use {', '.join(CORPUS_SUFFIXES)} "
                "or a folder of such files."
            )
        return [p]
    files = sorted(
        f
        for f in p.rglob("*")
        if f.is_file()
        and f.suffix.lower() in CORPUS_SUFFIXES
        and not any(part.startswith(".") for part in f.relative_to(p).parts)
    )
    if not files:
        raise DataError(f"{p}: the corpus folder holds no {', '.join(CORPUS_SUFFIXES)} files.")
    return files


def read_documents(path: Path, *, text_field: str = "text") -> list[str]:
    """The documents of one corpus file, in file order.

    Raises:
        DataError: unreadable file, invalid UTF-8, no text column, or a non-string text.
    """
    if path.suffix.lower() == ".txt":
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"{path}: cannot read the corpus file: {exc}") from exc
        return [decode_utf8(data, path)]
    table = _TABLE_READERS[path.suffix.lower()](path)
    if table.rows and text_field not in table.columns:
        raise DataError(
            f"{path}: no text column {text_field!r} in the corpus file (columns: "
            f"{', '.join(table.columns)}); name it with --text-field."
        )
    docs = []
    for row in table.rows:
        value = row.values.get(text_field)
        if not isinstance(value, str):
            raise DataError(
                f"{row.source}: the corpus text is {type(value).__name__}, not a string."
            )
        docs.append(value)
    return docs


def iter_documents(files: list[Path], *, text_field: str = "text") -> Iterator[str]:
    """Every document of ``files``, file by file."""
    for f in files:
        yield from read_documents(f, text_field=text_field)


def corpus_fingerprint(files: list[Path], *, text_field: str = "text") -> str:
    """SHA-256 of the corpus content: each file's bytes (in order) and the text column name.

    File names and locations do not enter, so a moved or renamed copy of a corpus keeps its
    fingerprint; any change of content changes it.
    """
    h = hashlib.sha256(f"text_field={text_field}\n".encode())
    for f in files:
        digest = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        h.update(f.suffix.lower().encode() + b":" + digest.hexdigest().encode() + b"\n")
    return h.hexdigest()
