"""Wall time per stage: ``metrics.json``'s ``setup.timings`` and ``miakit run --timings``."""

from __future__ import annotations

import json
import time

import pytest

from miakit._core.timing import Timings, stage, table
from miakit.cli.main import main

from .test_echo import run_args


def test_nested_stages_count_their_own_time_only():
    timings = Timings()
    with timings.active():
        with timings.stage("outer"):
            time.sleep(0.02)
            with stage("inner"):
                time.sleep(0.03)
        with stage("outer"):  # entered twice: adds up
            pass
    with stage("ignored"):  # no run active: nothing recorded
        pass
    got = timings.as_dict()
    assert list(got) == ["inner", "outer", "total"]
    assert 0.02 <= got["outer"] < 0.03 + 0.02 and got["inner"] >= 0.03
    assert got["inner"] + got["outer"] <= got["total"]
    assert "inner" in table(got) and "total" in table(got)


def test_metrics_json_records_the_wall_time_of_each_stage(tmp_path, tiny_model_dir, capsys):
    assert main(run_args(tmp_path, tiny_model_dir, "--attacks", "loss,zlib")) == 0
    timings = json.loads((tmp_path / "out" / "metrics.json").read_text())["setup"]["timings"]
    for name in (
        "startup",
        "validation",
        "load:target",
        "signals:target/plain",
        "attacks",
        "metrics",
        "blind_baselines",
        "overlap",
        "outputs",
        "report",
        "total",
    ):
        assert name in timings, name
    assert all(v >= 0 for v in timings.values())
    stages = sum(v for k, v in timings.items() if k != "total")
    assert stages <= timings["total"] + 0.001 * len(timings)  # each rounded to the millisecond
    assert "timings" not in capsys.readouterr().err  # only with --timings


def test_timings_flag_prints_the_table_on_stderr(tmp_path, tiny_model_dir, capsys):
    assert main(run_args(tmp_path, tiny_model_dir, "--attacks", "loss", "--timings")) == 0
    err = capsys.readouterr().err
    assert "timings (wall seconds per stage):" in err
    assert "load:target" in err and "signals:target/plain" in err and "total" in err


def test_timings_flag_is_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--timings" in capsys.readouterr().out


def test_the_python_api_records_timings_without_startup(tmp_path, tiny_model_dir):
    import miakit

    args = run_args(tmp_path, tiny_model_dir)
    result = miakit.run(
        model=str(tiny_model_dir),
        members=args[args.index("--members") + 1],
        nonmembers=args[args.index("--nonmembers") + 1],
        attacks=["loss"],
        no_cache=True,
        n_bootstrap=20,
        write=False,
    )
    timings = result.metrics["setup"]["timings"]
    assert "startup" not in timings and "signals:target/plain" in timings
