"""The run record on its own (no model): ids tie every value to its sample, the tables are
those of the files, and a written record reads back equal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from miakit.attacks import AttackOutput
from miakit.data import Label, Sample, SampleSet
from miakit.errors import DataError
from miakit.results import RunRecord
from miakit.signals.table import TokenSignals

N = 6
IDS = [f"s{i}" for i in range(N)]


def _samples(order: list[int]) -> SampleSet:
    return SampleSet.of(
        [
            Sample(
                id=IDS[i],
                text=f"text number {i}",
                label=Label.MEMBER if i % 2 == 0 else Label.NONMEMBER,
                group="g1" if i < 3 else None,
                doc_id=f"d{i // 2}" if i != 4 else None,
                source=f"data.jsonl:{i + 1}",
            )
            for i in order
        ]
    )


def _outputs(order: list[int]) -> dict[str, AttackOutput]:
    loss = np.array([0.5, -1.0, np.nan, 2.0, 0.25, -0.75])
    zlib = np.array([1.0, 2.0, 3.0, 4.0, np.nan, np.nan])
    loss_why = ["too short" if i == 2 else None for i in order]
    zlib_why = [f"no text {i}" if i >= 4 else None for i in order]
    return {
        "loss": AttackOutput.from_scores(loss[order], loss_why),
        "zlib": AttackOutput.from_scores(zlib[order], zlib_why),
    }


def _tables(order: list[int]) -> dict[tuple[str, str], TokenSignals]:
    n_tokens = np.array([3, 5, 1, 9, 4, 2], dtype=np.int64)[order]
    truncated = np.array([False, False, False, True, False, True])[order]
    offsets = np.r_[0, np.cumsum(np.minimum(n_tokens, 4))].astype(np.int64)
    stats = {"token_log_prob": np.zeros(offsets[-1], dtype=np.float32)}
    target = TokenSignals(offsets, stats, truncated, n_tokens)
    other = TokenSignals(offsets, stats, np.array([i == 1 for i in order]), n_tokens)
    return {("target", "plain"): target, ("reference", "plain"): other}


def _blind(order: list[int]) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [IDS[i] for i in order], "label": ["x"] * N})
    frame["bag_of_words"] = np.linspace(0.0, 1.0, N)[order]
    return frame


def _record(order: list[int]) -> RunRecord:
    record = RunRecord.of_run(_samples(order), _outputs(order), _tables(order))
    return record.with_blind(_blind(order)).with_metrics({"attacks": {"loss": {"auroc": 0.5}}})


def test_values_are_tied_to_their_sample_ids():
    record = _record(list(range(N)))
    assert record.ids == IDS
    assert record.scores_by_id("loss")["s3"] == 2.0
    assert np.isnan(record.scores_by_id("loss")["s2"])
    assert record.nan_reasons("loss") == {"s2": "too short"}
    assert record.nan_reasons("zlib") == {"s4": "no text 4", "s5": "no text 5"}
    assert record.truncated() == ("s3", "s5")
    assert record.truncated("reference:plain") == ("s1",)
    assert record.position("s4") == 4
    with pytest.raises(KeyError, match="no sample with id 'nope'"):
        record.position("nope")


def test_permuted_inputs_give_the_record_permuted_by_id():
    """The same samples in another order: every per-sample value moves with its id."""
    order = [5, 3, 0, 1, 4, 2]
    permuted = _record(order)
    original = _record(list(range(N)))
    assert permuted.ids == [IDS[i] for i in order]
    assert permuted == original.reordered(permuted.ids)
    assert permuted.reordered(IDS) == original
    assert permuted.truncated() == ("s5", "s3")  # in the record's row order
    assert permuted != original  # same values, other row order: not the same files
    for name in ("loss", "zlib"):
        a, b = permuted.scores_by_id(name), original.scores_by_id(name)
        assert a.keys() == b.keys()
        assert all(a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])) for k in a)
    frames = permuted.frames()
    by_id = frames.samples.set_index("id")
    assert by_id.loc["s3", "truncated"] and by_id.loc["s3", "n_text_tokens"] == 9
    assert by_id.loc["s2", "nan_reason:loss"] == "too short"
    assert frames.blind is not None
    assert frames.blind.set_index("id").loc["s5", "bag_of_words"] == 1.0


def test_blind_scores_are_matched_by_id_not_by_row():
    shuffled = _blind([5, 4, 3, 2, 1, 0])
    record = RunRecord.of_run(_samples(list(range(N))), _outputs(list(range(N))), {})
    matched = record.with_blind(shuffled)
    assert matched.blind is not None
    assert np.array_equal(matched.blind["bag_of_words"], np.linspace(0.0, 1.0, N))
    with pytest.raises(ValueError, match="other samples"):
        record.with_blind(shuffled.iloc[:-1])


def test_frames_are_the_files_tables():
    record = _record(list(range(N)))
    scores, samples, blind = record.frames()
    assert list(scores.columns) == ["id", "label", "loss", "zlib"]
    assert list(scores["label"]) == ["member", "nonmember"] * 3
    assert list(samples.columns) == [
        "id", "label", "source", "text", "group", "doc_id", "n_text_tokens",
        "n_scored_tokens", "truncated", "nan_reason:loss", "nan_reason:zlib",
    ]  # fmt: skip
    assert samples["n_scored_tokens"].tolist() == [3, 4, 1, 4, 4, 2]
    assert samples["group"].tolist()[:3] == ["g1"] * 3 and samples["group"].isna().sum() == 3
    assert samples["nan_reason:zlib"].isna().sum() == 4
    assert blind is not None and list(blind.columns) == ["id", "label", "bag_of_words"]
    scores.loc[0, "loss"] = 99.0  # a table is a copy: the record keeps its values
    assert record.scores_by_id("loss")["s0"] == 0.5


def test_no_blind_no_tokens():
    record = RunRecord.of_run(_samples([0, 1]), {}, {}).with_blind(None)
    _, samples, blind = record.frames()
    assert blind is None and record.tokens is None
    assert list(samples.columns) == ["id", "label", "source", "text", "group", "doc_id"]


def test_metrics_are_plain_json_values():
    metrics = {
        "attacks": {"loss": {"auroc": np.float64(0.75), "n": np.int64(6), "ci": (0.1, 0.9)}},
        "label": Label.MEMBER,
        "nan": float("nan"),
    }
    record = RunRecord.of_run(_samples([0]), {}, {}).with_metrics(metrics)
    assert type(record.metrics["attacks"]["loss"]["n"]) is int
    assert record.metrics["attacks"]["loss"]["ci"] == [0.1, 0.9]
    assert record.metrics["label"] == "member"
    assert record.metrics_json() == json.dumps(json.loads(record.metrics_json()), indent=2) + "\n"
    copy = record.to_metrics()
    copy["attacks"]["loss"]["auroc"] = 0.0
    assert record.attack_metrics["loss"]["auroc"] == 0.75
    timed = record.with_timings({"signals": 1.5})
    assert timed.metrics["setup"] == {"timings": {"signals": 1.5}}
    assert "setup" not in record.metrics


def test_misaligned_columns_are_refused():
    samples = _samples([0, 1, 2])
    short = {"loss": AttackOutput.from_scores(np.zeros(2))}
    with pytest.raises(ValueError, match="2 scores for 3 samples"):
        RunRecord.of_run(samples, short, {})
    dup = SampleSet.of([Sample(id="a", text="x"), Sample(id="a", text="y")])
    with pytest.raises(ValueError, match="duplicate sample ids"):
        RunRecord.of_run(dup, {}, {})
    record = RunRecord.of_run(samples, {}, {})
    with pytest.raises(ValueError, match="permutation"):
        record.reordered(["s0", "s1"])


def _write(record: RunRecord, folder):
    """The files as ``write_outputs`` writes them (without the config and the report)."""
    scores, samples, blind = record.frames()
    folder.mkdir()
    scores.to_parquet(folder / "scores.parquet", index=False)
    samples.to_parquet(folder / "samples.parquet", index=False)
    if blind is not None:
        blind.to_parquet(folder / "blind_scores.parquet", index=False)
    (folder / "metrics.json").write_text(record.metrics_json(), "utf-8")
    return folder


def test_written_record_loads_back_equal(tmp_path):
    order = [2, 5, 0, 3, 1, 4]
    record = _record(order)
    metrics = {"attacks": {"loss": {"auroc": 0.5}}, "samples": {"truncated": {}}}
    metrics["samples"]["truncated"] = {k: list(v) for k, v in record.truncated_ids.items()}
    record = record.with_metrics(metrics)
    loaded = RunRecord.load(_write(record, tmp_path / "run"))
    assert loaded == record
    assert loaded.ids == [IDS[i] for i in order]
    for a, b in zip(loaded.frames(), record.frames(), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_load_reads_the_earlier_layouts(tmp_path):
    """Blind scores as ``blind:<name>`` columns, labels as codes, samples in another order."""
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame(
        {"id": ["a", "b", "c"], "label": [1, 0, -1], "loss": [0.1, 0.2, 0.3],
         "blind:bow": [0.5, 0.6, 0.7]}
    ).to_parquet(run / "scores.parquet")  # fmt: skip
    pd.DataFrame({"id": ["c", "a", "b"], "text": ["C", "A", "B"]}).to_parquet(
        run / "samples.parquet"
    )
    (run / "metrics.json").write_text(json.dumps({"attacks": {"loss": {}}}))
    record = RunRecord.load(run)
    assert record.samples.labels == (Label.MEMBER, Label.NONMEMBER, Label.UNKNOWN)
    assert record.samples.texts == ("A", "B", "C")
    assert record.blind is not None and list(record.blind) == ["bow"]
    assert list(record.attacks) == ["loss"] and record.tokens is None


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ({"id": ["a", "a"], "label": ["member", "nonmember"]}, "sample ids repeat"),
        ({"id": ["a", "b"], "label": ["member", "maybe"]}, "labels must be member"),
        ({"id": ["a", "b"]}, "has no 'label' column"),
    ],
)
def test_load_names_the_problem(tmp_path, scores, message):
    pd.DataFrame(scores).to_parquet(tmp_path / "scores.parquet")
    pd.DataFrame({"id": ["a", "b"]}).to_parquet(tmp_path / "samples.parquet")
    (tmp_path / "metrics.json").write_text(json.dumps({"attacks": {}}))
    with pytest.raises(DataError, match=message):
        RunRecord.load(tmp_path)
