"""Tests of miakit.data.split and ``miakit split``: seeded, stratified, documented by a manifest."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from miakit import __version__
from miakit.cli.main import main
from miakit.data import Label, Sample, load_inputs, load_samples
from miakit.data.split import split_samples, write_split
from miakit.errors import DataError, InvalidParameterError


def corpus(n: int, *, groups: dict[str, int] | None = None) -> list[Sample]:
    if groups is None:
        return [Sample(id=f"s{i}", text=f"text {i}") for i in range(n)]
    out = []
    for g, k in groups.items():
        out += [
            Sample(id=f"{g}{i}", text=f"{g} text {i}", metadata={"source": g}) for i in range(k)
        ]
    return out


def ids(samples: list[Sample]) -> list[str]:
    return [s.id for s in samples]


def test_split_is_seeded_labelled_and_in_input_order():
    samples = corpus(100)
    m1, n1 = split_samples(samples, seed=1)
    m2, n2 = split_samples(samples, seed=1)
    assert ids(m1) == ids(m2) and ids(n1) == ids(n2)
    m3, _ = split_samples(samples, seed=2)
    assert ids(m3) != ids(m1)
    assert sorted(ids(m1) + ids(n1)) == sorted(ids(samples))
    assert all(s.label is Label.MEMBER for s in m1)
    assert all(s.label is Label.NONMEMBER for s in n1)
    position = {s.id: i for i, s in enumerate(samples)}
    assert [position[i] for i in ids(m1)] == sorted(position[i] for i in ids(m1))


@pytest.mark.parametrize(("n", "fraction", "members"), [(100, 0.5, 50), (10, 0.3, 3), (7, 0.2, 1)])
def test_whole_fraction_is_exact(n, fraction, members):
    assert len(split_samples(corpus(n), fraction=fraction)[0]) == members


def test_fractional_counts_round_either_way_at_random():
    counts = {len(split_samples(corpus(11), seed=s)[0]) for s in range(20)}
    assert counts == {5, 6}


def test_stratified_split_keeps_the_fraction_in_every_stratum():
    samples = corpus(0, groups={"wiki": 40, "news": 20, "code": 10})
    members, nonmembers = split_samples(samples, fraction=0.5, seed=0, stratify="source")
    per = Counter(s.metadata["source"] for s in members)
    assert per == {"wiki": 20, "news": 10, "code": 5}
    assert Counter(s.metadata["source"] for s in nonmembers) == per


def test_many_tiny_strata_still_give_the_fraction_on_average():
    samples = [Sample(id=f"s{i}", text="t", metadata={"k": i}) for i in range(400)]
    members, _ = split_samples(samples, fraction=0.5, seed=0, stratify="k")
    assert 160 <= len(members) <= 240  # round-half-up would give all 400


def test_stratify_by_group_and_missing_values():
    samples = [Sample(id=f"a{i}", text="t", group="A") for i in range(10)]
    samples += [Sample(id=f"x{i}", text="t") for i in range(10)]  # no group: a stratum of its own
    members, _ = split_samples(samples, fraction=0.5, stratify="group")
    assert Counter(s.group for s in members) == {"A": 5, None: 5}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fraction": 0.0}, InvalidParameterError, "exclusive"),
        ({"fraction": 1.0}, InvalidParameterError, "exclusive"),
        ({"fraction": "half"}, InvalidParameterError, "number"),
        ({"seed": -1}, InvalidParameterError, "seed"),
        ({"stratify": "sorce"}, InvalidParameterError, "Did you mean 'source'"),
    ],
)
def test_invalid_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        split_samples(corpus(0, groups={"a": 4, "b": 4}), **kwargs)


def test_a_side_left_empty_is_an_error():
    with pytest.raises(DataError, match="both sets need samples"):
        split_samples(corpus(1))


def write_input(path: Path) -> Path:
    rows = [
        {"id": f"doc{i}", "text": f"Paragraph number {i}.", "label": "member", "source": src}
        for i, src in enumerate(["wiki"] * 12 + ["news"] * 8)
    ]
    rows[3]["label"] = "nonmember"  # input labels are ignored, whatever they say
    rows[5]["year"] = 2024
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


def test_write_split_outputs_and_manifest(tmp_path):
    src = write_input(tmp_path / "corpus.jsonl")
    out = tmp_path / "split"
    manifest = write_split(src, out, fraction=0.25, seed=3, stratify="source")

    members = [json.loads(line) for line in (out / "members.jsonl").read_text().splitlines()]
    nonmembers = [json.loads(line) for line in (out / "nonmembers.jsonl").read_text().splitlines()]
    assert len(members) == 5 and len(nonmembers) == 15  # 3 of 12 wiki + 2 of 8 news
    assert all(r["label"] == "member" for r in members)
    assert all(r["label"] == "nonmember" for r in nonmembers)
    by_id = {r["id"]: r for r in members + nonmembers}
    assert by_id["doc5"]["year"] == 2024 and by_id["doc5"]["text"] == "Paragraph number 5."
    assert all(set(r) >= {"id", "text", "label", "source"} for r in by_id.values())

    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["miakit_version"] == __version__
    assert manifest["input"] == str(src)
    assert manifest["input_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert manifest["fraction"] == 0.25 and manifest["seed"] == 3
    assert manifest["stratify"] == "source"
    assert manifest["counts"]["total"] == 20
    assert manifest["counts"]["members"] == 5 and manifest["counts"]["nonmembers"] == 15
    assert manifest["counts"]["strata"] == {
        '"news"': {"total": 8, "members": 2, "nonmembers": 6},
        '"wiki"': {"total": 12, "members": 3, "nonmembers": 9},
    }
    member_ids = "".join(r["id"] + "\n" for r in members).encode()
    assert manifest["member_ids_sha256"] == hashlib.sha256(member_ids).hexdigest()
    nonmember_ids = "".join(r["id"] + "\n" for r in nonmembers).encode()
    assert manifest["nonmember_ids_sha256"] == hashlib.sha256(nonmember_ids).hexdigest()

    # the outputs load as the two roles of a run
    samples = load_inputs(members=out / "members.jsonl", nonmembers=out / "nonmembers.jsonl")
    assert samples.count(Label.MEMBER) == 5 and samples.count(Label.NONMEMBER) == 15


def test_write_split_refuses_to_replace_a_split(tmp_path):
    src = write_input(tmp_path / "corpus.jsonl")
    write_split(src, tmp_path / "s")
    before = (tmp_path / "s" / "members.jsonl").read_bytes()
    with pytest.raises(DataError, match="--overwrite"):
        write_split(src, tmp_path / "s", seed=9)
    assert (tmp_path / "s" / "members.jsonl").read_bytes() == before
    write_split(src, tmp_path / "s", seed=9, overwrite=True)
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["seed"] == 9


def test_write_split_of_a_folder_and_a_csv(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.txt").write_text(f"text {i}", "utf-8")
    manifest = write_split(folder, tmp_path / "a")
    assert manifest["counts"]["members"] == 3
    assert len(manifest["input_sha256"]) == 64
    (folder / "0.txt").write_text("changed", "utf-8")
    assert write_split(folder, tmp_path / "b")["input_sha256"] != manifest["input_sha256"]

    csv = tmp_path / "c.csv"
    csv.write_text("content,topic\nalpha,x\nbeta,y\ngamma,x\ndelta,y\n", "utf-8")
    m = write_split(csv, tmp_path / "c", text_field="content", stratify="topic")
    rows = [json.loads(x) for x in (tmp_path / "c" / "members.jsonl").read_text().splitlines()]
    assert m["counts"]["members"] == 2 and {r["topic"] for r in rows} == {"x", "y"}
    assert all(r["id"].startswith("c:") for r in rows)  # generated ids, as load_samples makes


def test_duplicate_ids_are_refused(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', "utf-8")
    with pytest.raises(DataError, match="duplicate sample ids"):
        write_split(src, tmp_path / "o")


def test_cli_split_end_to_end(tmp_path, capsys):
    src = write_input(tmp_path / "corpus.jsonl")
    args = ["split", str(src), "--fraction", "0.5", "--seed", "4", "--stratify", "source"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    assert "10 members" in printed and "10 non-members" in printed
    assert "Train on members.jsonl only" in printed
    assert main([*args, "--out", str(tmp_path / "two")]) == 0
    for name in ("members.jsonl", "nonmembers.jsonl", "manifest.json"):  # byte-identical
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    members = load_samples(tmp_path / "one" / "members.jsonl", label=Label.MEMBER)
    assert Counter(s.metadata["source"] for s in members) == {"wiki": 6, "news": 4}


def test_cli_split_help_explains_the_design(capsys):
    with pytest.raises(SystemExit):
        main(["split", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "removes distribution shift" in text and "BEFORE training" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--fraction", "1.5"], "fraction"), (["--stratify", "sourc"], "Did you mean 'source'")],
)
def test_cli_split_errors_exit_2(tmp_path, capsys, extra, message):
    src = write_input(tmp_path / "corpus.jsonl")
    assert main(["split", str(src), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "members.jsonl").exists()
