"""Tests of miakit.data.loaders: every format round-trips and every error names its fix."""

from __future__ import annotations

import csv
import datetime
import json
import re
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miakit.data import Label, SampleSet, load_inputs, load_samples
from miakit.errors import DataError, InvalidParameterError, OverlapError


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --- formats ---------------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"id": "a", "text": " Hello, world ", "group": 3, "doc_id": "d1", "lang": "en"}\n'
        "\n"
        '{"id": 7, "text": "second\\nline", "score": 0.5, "tags": ["x"]}\n',
        "utf-8",
    )
    samples = load_samples(path, label=Label.MEMBER)
    assert [s.id for s in samples] == ["a", "7"]
    assert [s.text for s in samples] == [" Hello, world ", "second\nline"]  # never stripped
    assert all(s.label is Label.MEMBER for s in samples)
    assert samples[0].group == "3" and samples[0].doc_id == "d1"
    assert samples[1].group is None and samples[1].doc_id is None
    assert samples[0].metadata == {"lang": "en"}
    assert samples[1].metadata == {"score": 0.5, "tags": ["x"]}
    assert [s.source for s in samples] == ["m.jsonl:1", "m.jsonl:3"]  # blank line 2 skipped


def test_json_list_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"id": "a", "text": "x", "label": "member"}, {"text": "y"}]))
    with pytest.raises(DataError, match=r"d\.json:row 2: id is missing"):
        load_samples(path)
    path.write_text(json.dumps([{"id": "a", "text": "x", "label": "member"}]))
    (sample,) = load_samples(path)
    assert (sample.id, sample.text, sample.label, sample.source) == (
        "a",
        "x",
        Label.MEMBER,
        "d.json:row 1",
    )


def test_json_must_be_list_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('{"data": []}')
    with pytest.raises(DataError, match="expected a JSON list of objects, found an object"):
        load_samples(path)
    path.write_text('[{"text": "a"}, 3]')
    with pytest.raises(DataError, match="item 2: a number"):
        load_samples(path)
    path.write_text('[{"text": "a"},\n oops]')
    with pytest.raises(DataError, match=r"d\.json: malformed JSON at line 2, column 2"):
        load_samples(path)


def test_csv_round_trip_with_quoted_fields(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "d.csv",
        ["id", "text", "label", "group", "note"],
        [
            ["a", 'says "hi", twice\r\nand more', "member", "g1", ""],
            ["b", "plain", "0", "", "n"],
        ],
    )
    samples = load_samples(path)
    assert [s.text for s in samples] == ['says "hi", twice\r\nand more', "plain"]
    assert [s.label for s in samples] == [Label.MEMBER, Label.NONMEMBER]
    assert [s.group for s in samples] == ["g1", None]
    assert [s.metadata for s in samples] == [{"note": ""}, {"note": "n"}]
    # sources are the file lines where records start: the first record spans lines 2-3
    assert [s.source for s in samples] == ["d.csv:2", "d.csv:4"]


def test_csv_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftext\nhello\n".encode())
    (sample,) = load_samples(path, label=Label.NONMEMBER)
    assert (sample.id, sample.text) == ("excel:1", "hello")


def test_csv_malformed(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,text\na,b,c\nb,ok\nc\n")
    with pytest.raises(DataError, match=r"line 2: 3 fields, the header has 2; line 4: 1 field"):
        load_samples(path, label=Label.MEMBER)
    path.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        load_samples(path, label=Label.MEMBER)
    path.write_text("text,text\na,b\n")
    with pytest.raises(DataError, match="duplicate column names in the header: text"):
        load_samples(path, label=Label.MEMBER)


def test_parquet_round_trip(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [10, 11],
            "text": ["first", "second"],
            "label": [1, 0],
            "group": ["g", None],
            "score": [float("nan"), 2.5],
            "day": [datetime.date(2024, 1, 31), None],
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    samples = load_samples(tmp_path / "d.parquet")
    assert [s.id for s in samples] == ["10", "11"]
    assert [s.label for s in samples] == [Label.MEMBER, Label.NONMEMBER]
    assert [s.group for s in samples] == ["g", None]
    assert [s.metadata for s in samples] == [
        {"score": None, "day": "2024-01-31"},
        {"score": 2.5, "day": None},
    ]
    assert [s.source for s in samples] == ["d.parquet:row 1", "d.parquet:row 2"]


def test_parquet_non_string_text(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["ok", None, "fine"]}), tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"d\.parquet:row 2 \(id 'd:2'\) \(null\)"):
        load_samples(tmp_path / "d.parquet", label=Label.MEMBER)


def test_txt_folder_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "b.txt").write_text("second\n", "utf-8")
    (folder / "a.txt").write_text("first\r\nline two", "utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\xff")
    samples = load_samples(folder, label=Label.NONMEMBER)
    assert [s.id for s in samples] == ["a.txt", "b.txt"]
    assert [s.text for s in samples] == ["first\r\nline two", "second\n"]  # exact bytes
    assert [s.source for s in samples] == ["corpus/a.txt", "corpus/b.txt"]
    assert all(s.label is Label.NONMEMBER and s.metadata == {} for s in samples)


def test_txt_folder_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "notes.md").write_text("y")
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataError, match=r"may hold only \.txt files.*notes\.md; sub/"):
        load_samples(tmp_path, label=Label.MEMBER)


def test_txt_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"holds no \.txt files"):
        load_samples(tmp_path, label=Label.MEMBER)
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match=r"no label column.*--members/--nonmembers"):
        load_samples(tmp_path)
    (tmp_path / "b.txt").write_text(" \n")
    with pytest.raises(
        DataError, match=r"empty or whitespace-only texts: \w+/b\.txt \(id 'b\.txt'\)"
    ):
        load_samples(tmp_path, label=Label.MEMBER)


def test_txt_folder_invalid_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("fine")
    data = b"line one\ncaf\xe9\n"
    (tmp_path / "b.txt").write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(
        DataError, match=rf"b\.txt: invalid UTF-8 at byte offset {offset} \(line 2\)"
    ):
        load_samples(tmp_path, label=Label.MEMBER)


def _saved_dataset(datasets: Any, path: Path, columns: dict[str, list[Any]]) -> Any:
    # An explicit fingerprint skips datasets' dill-based hashing of the table, which breaks on
    # some datasets/pyarrow version pairs and is beside the point here.
    table = datasets.table.InMemoryTable(pa.table(columns))
    ds = datasets.Dataset(table, fingerprint="miakit-test")
    ds.save_to_disk(str(path))
    return ds


def test_saved_dataset_round_trip(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    _saved_dataset(
        datasets, tmp_path / "ds", {"id": ["a", "b"], "text": ["x", "y"], "label": [1, 0]}
    )
    samples = load_samples(tmp_path / "ds")
    assert [(s.id, s.text, s.label) for s in samples] == [
        ("a", "x", Label.MEMBER),
        ("b", "y", Label.NONMEMBER),
    ]
    assert samples[0].source == "ds:row 1"


def test_saved_dataset_dict_asks_for_a_split(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = _saved_dataset(datasets, tmp_path / "one", {"text": ["x"]})
    datasets.DatasetDict(train=ds, test=ds).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"holds several splits; pass one of them: .*dd/train"):
        load_samples(tmp_path / "dd", label=Label.MEMBER)


def test_saved_dataset_without_datasets_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "state.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DataError, match=re.escape("pip install 'miakit[datasets]'")):
        load_samples(tmp_path, label=Label.MEMBER)


def test_unsupported_extension_lists_formats(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_bytes(b"")
    with pytest.raises(
        DataError, match=r"unsupported input format '\.xlsx'.*\.jsonl.*\.csv.*\.parquet"
    ):
        load_samples(tmp_path / "d.xlsx")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_samples(tmp_path / "nope.jsonl")


# --- columns and ids ---------------------------------------------------------------------------


def test_missing_text_column_names_columns_and_option(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "txt": "hello"}])
    with pytest.raises(
        DataError,
        match=r"m\.jsonl: no text column 'text'; columns found: 'id', 'txt'\. "
        r"Did you mean 'txt'\? .*--text-field",
    ):
        load_samples(path, label=Label.MEMBER)
    (sample,) = load_samples(path, label=Label.MEMBER, text_field="txt")
    assert sample.text == "hello"


def test_custom_field_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", ["key", "body", "y", "cat"], [["k", "t", "member", "c"]])
    (sample,) = load_samples(
        path, id_field="key", text_field="body", label_field="y", group_field="cat"
    )
    assert (sample.id, sample.text, sample.label, sample.group) == ("k", "t", Label.MEMBER, "c")


def test_field_names_must_be_distinct(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="id_field='text'"):
        load_samples(tmp_path / "x.jsonl", id_field="text")


def test_generated_ids(tmp_path: Path) -> None:
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    assert [s.id for s in load_samples(jsonl, label=Label.MEMBER)] == ["m:1", "m:3"]  # lines
    data = write_csv(tmp_path / "d.csv", ["text"], [["multi\nline"], ["b"]])
    assert [s.id for s in load_samples(data, label=Label.MEMBER)] == ["d:1", "d:2"]  # data rows
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "p.parquet")
    assert [s.id for s in load_samples(tmp_path / "p.parquet", label=Label.MEMBER)] == [
        "p:1",
        "p:2",
    ]


def test_bad_ids_are_listed(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": "a", "text": "x"},
            {"id": None, "text": "y"},
            {"text": "z"},
            {"id": "", "text": "w"},
        ],
    )
    with pytest.raises(
        DataError,
        match=r"3 invalid rows:\n  bad ids: m\.jsonl:2: id is null; m\.jsonl:3: id is missing; "
        r"m\.jsonl:4: id is empty\. .*drop the id column",
    ):
        load_samples(path, label=Label.MEMBER)


# --- texts -------------------------------------------------------------------------------------


def test_empty_and_whitespace_texts_name_id_and_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [{"id": "a", "text": "ok"}, {"id": "b", "text": ""}, {"id": "c", "text": " \t\n"}],
    )
    with pytest.raises(
        DataError,
        match=r"m\.jsonl: 2 invalid rows:\n  empty or whitespace-only texts: "
        r"m\.jsonl:2 \(id 'b'\); m\.jsonl:3 \(id 'c'\)\. .*never drops rows",
    ):
        load_samples(path, label=Label.MEMBER)


def test_empty_text_in_csv_names_file_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", ["id", "text"], [["a", "x"], ["b", "  "]])
    with pytest.raises(DataError, match=r"d\.csv:3 \(id 'b'\)"):
        load_samples(path, label=Label.MEMBER)


def test_non_string_texts_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "text": null}\n{"id": "b", "text": 12}\n{"id": "c"}\n')
    with pytest.raises(
        DataError,
        match=r"texts that are not strings: m\.jsonl:1 \(id 'a'\) \(null\); "
        r"m\.jsonl:2 \(id 'b'\) \(a number\); m\.jsonl:3 \(id 'c'\) \(missing\)",
    ):
        load_samples(path, label=Label.MEMBER)


def test_unpaired_surrogate_escape(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "text": "x\\ud800"}\n')
    with pytest.raises(DataError, match=r"not valid Unicode: m\.jsonl:1 \(id 'a'\)"):
        load_samples(path, label=Label.MEMBER)


@pytest.mark.parametrize("name", ["m.jsonl", "d.csv"])
def test_invalid_utf8_names_file_offset_and_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".jsonl"):
        data = b'{"id": "a", "text": "fine"}\n{"text": "caf\xe9"}\n'
    else:
        data = b"text\nfine\ncaf\xe9\n"
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    line = data[:offset].count(b"\n") + 1
    with pytest.raises(
        DataError,
        match=rf"{re.escape(name)}: invalid UTF-8 at byte offset {offset} \(line {line}\).*"
        r"iconv -f latin1 -t utf-8",
    ):
        load_samples(path, label=Label.MEMBER)


def test_malformed_json_lines_are_listed_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": oops}\n[1, 2]\n{"text": "fine"}\n')
    with pytest.raises(
        DataError,
        match=r"m\.jsonl: malformed JSON Lines: line 3, column 10: Expecting value; "
        r"line 4: an array, not an object",
    ):
        load_samples(path, label=Label.MEMBER)


def test_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="holds no samples"):
        load_samples(path, label=Label.MEMBER)
    write_csv(tmp_path / "d.csv", ["id", "text"], [])
    with pytest.raises(DataError, match="holds no samples"):
        load_samples(tmp_path / "d.csv", label=Label.MEMBER)


# --- labels ------------------------------------------------------------------------------------


def test_labels_from_column(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "t", "label": "member"},
        {"id": "b", "text": "t2", "label": "Non-Member"},
        {"id": "c", "text": "t3", "label": 1},
        {"id": "d", "text": "t4", "label": False},
        {"id": "e", "text": "t5", "label": None},
    ]
    samples = load_samples(write_jsonl(tmp_path / "d.jsonl", rows))
    assert [s.label.value for s in samples] == [
        "member",
        "nonmember",
        "member",
        "nonmember",
        "unknown",
    ]


def test_label_column_required_without_role(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "t"}])
    with pytest.raises(DataError, match=r"no label column 'label'.*--members/--nonmembers"):
        load_samples(path)


def test_bad_label_values_are_all_listed(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "t", "label": "memebr"},
        {"id": "b", "text": "t", "label": "member"},
        {"id": "c", "text": "t", "label": 2},
    ]
    with pytest.raises(
        DataError,
        match=r"d\.jsonl:1 \(id 'a'\): invalid label 'memebr'; expected one of .*"
        r"Other invalid labels: d\.jsonl:3 \(id 'c'\): 2\.",
    ):
        load_samples(write_jsonl(tmp_path / "d.jsonl", rows))


def test_label_conflict_names_id_and_row(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "t", "label": "member"},
        {"id": "b", "text": "t2", "label": "nonmember"},
        {"id": "c", "text": "t3", "label": "unknown"},
    ]
    path = write_jsonl(tmp_path / "m.jsonl", rows)
    with pytest.raises(
        DataError,
        match=r"m\.jsonl:2 \(id 'b'\) says 'nonmember' but the file was given as members "
        r"\(--members\)",
    ):
        load_samples(path, label=Label.MEMBER)
    del rows[1]
    samples = load_samples(write_jsonl(path, rows), label=Label.MEMBER)  # unknown agrees
    assert [s.label for s in samples] == [Label.MEMBER, Label.MEMBER]
    assert all("label" not in s.metadata for s in samples)


def test_problems_of_several_kinds_in_one_message(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": ""}, {"id": "b", "text": "t", "label": "nonmember"}]
    with pytest.raises(DataError, match=r"(?s)2 invalid rows:.*empty.*'a'.*contradict.*'b'"):
        load_samples(write_jsonl(tmp_path / "m.jsonl", rows), label=Label.MEMBER)


# --- load_inputs -------------------------------------------------------------------------------


def test_load_inputs_by_role(tmp_path: Path) -> None:
    members = write_jsonl(tmp_path / "m.jsonl", [{"id": "m1", "text": "a"}])
    nonmembers = write_csv(tmp_path / "n.csv", ["id", "text"], [["n1", "b"], ["n2", "c"]])
    result = load_inputs(members=str(members), nonmembers=nonmembers)
    assert isinstance(result, SampleSet)
    assert result.ids == ["m1", "n1", "n2"]
    assert result.labels == [Label.MEMBER, Label.NONMEMBER, Label.NONMEMBER]
    assert load_inputs(nonmembers=nonmembers).ids == ["n1", "n2"]


def test_load_inputs_data(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "x", "label": 1}, {"id": "b", "text": "y", "label": 0}]
    result = load_inputs(data=write_jsonl(tmp_path / "d.jsonl", rows))
    assert result.labels == [Label.MEMBER, Label.NONMEMBER]


def test_load_inputs_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"--members/--nonmembers.*--data"):
        load_inputs()
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "text": "x", "label": 1}])
    with pytest.raises(InvalidParameterError, match="not both"):
        load_inputs(data=path, members=path)


def test_load_inputs_duplicate_ids_across_files(tmp_path: Path) -> None:
    members = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "x", "text": "a"}, {"id": "y", "text": "b"}]
    )
    nonmembers = write_jsonl(
        tmp_path / "n.jsonl", [{"id": "x", "text": "c"}, {"id": "y", "text": "d"}]
    )
    with pytest.raises(
        DataError,
        match=r"duplicate sample ids: 'x' \(m\.jsonl:1 and n\.jsonl:1\); "
        r"'y' \(m\.jsonl:2 and n\.jsonl:2\)",
    ):
        load_inputs(members=members, nonmembers=nonmembers)


def test_load_inputs_overlap(tmp_path: Path) -> None:
    members = write_jsonl(tmp_path / "m.jsonl", [{"id": "m1", "text": "same"}])
    nonmembers = write_jsonl(tmp_path / "n.jsonl", [{"id": "n1", "text": "same"}])
    with pytest.raises(OverlapError, match=r"member 'm1' = non-member 'n1'.*--allow-overlap"):
        load_inputs(members=members, nonmembers=nonmembers)
    result = load_inputs(members=members, nonmembers=nonmembers, allow_overlap=True)
    assert len(result) == 2


# --- property: any text survives a round trip ------------------------------------------------

# csv can hold NUL characters only from Python 3.11 on
_ALPHABET = st.characters(
    exclude_categories=("Cs",), exclude_characters="\x00" if sys.version_info < (3, 11) else ""
)
_TEXTS = st.lists(
    st.text(_ALPHABET, min_size=1, max_size=40).filter(lambda t: t.strip()),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(texts=_TEXTS)
def test_any_text_round_trips_through_jsonl_and_csv(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("prop", numbered=True)
    jsonl = write_jsonl(folder / "m.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    data = write_csv(
        folder / "d.csv", ["id", "text", "label"], [[i, t, "member"] for i, t in enumerate(texts)]
    )
    assert [s.text for s in load_samples(jsonl, label=Label.MEMBER)] == texts
    assert [s.text for s in load_samples(data)] == texts
