"""benchmarks/e2e.py in its ``--small`` CPU mode: the plumbing the GPU run relies on.

The current code runs for real (tiny models on 80 real texts); the "older release" is a stub
``miakit`` package whose ``run`` has no ``--timings`` and writes a metrics.json without
``setup.timings``, as 23acaf3 does, so the benchmark must fall back to wall times for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "benchmarks" / "e2e.py"

STUB_MAIN = """
import json, sys
from pathlib import Path
args = sys.argv[1:]
if "--help" in args:
    print("usage: miakit run [--model MODEL] [--out DIR] [--no-blind]")
    sys.exit(0)
assert "--timings" not in args, "the benchmark passed --timings to a code without it"
out = Path(args[args.index("--out") + 1])
out.mkdir(parents=True)
(out / "metrics.json").write_text(json.dumps({"setup": {}, "attacks": {}}))
"""


@pytest.mark.slow
def test_small_e2e_run_with_an_old_baseline(tmp_path):
    from miakit.assets import MissingAssetError, smollm2_gguf, wiki_summaries_path

    try:
        smollm2_gguf()
        wiki_summaries_path()
    except MissingAssetError:
        pytest.skip("the demo assets are not installed (see miakit.assets)")
    data, old = tmp_path / "data", tmp_path / "old" / "src" / "miakit"
    subprocess.run(
        [sys.executable, str(E2E), "prepare", "--data", str(data)], check=True, capture_output=True
    )
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["sets"]["D"]["texts"] == 4000
    old.mkdir(parents=True)
    (old / "__init__.py").write_text("")
    (old / "__main__.py").write_text(STUB_MAIN)
    out = subprocess.run(
        [
            sys.executable,
            str(E2E),
            "run",
            "--small",
            "--device",
            "cpu",
            "--data",
            str(data),
            "--cases",
            "cold,cached",
            "--baseline-src",
            str(tmp_path / "old"),
            "--out-json",
            str(tmp_path / "results"),
            "--scratch",
            str(tmp_path / "scratch"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "results" / "e2e_cpu_small.json").read_text())
    runs = {(r["case"], r["version"]): r for r in result["runs"]}
    assert set(runs) == {(c, v) for c in ("cold", "cached") for v in ("current", "baseline")}
    assert all(r["rc"] == 0 for r in runs.values()), runs
    cold, cached = runs["cold", "current"], runs["cached", "current"]
    # the rerun finds every signal of the cold run cached: its signal stages do no work
    assert cold["signals_s"] > 0.5 and cached["signals_s"] < cold["signals_s"] / 5
    assert cached["max_rss_gb"] > 0 and cached["cpu_s"] > 0
    for r in (cold, cached):
        assert "--timings" in r["argv"] and r["report"] is True
        assert 0 < r["timings"]["total"] <= r["wall_s"]
    assert "--timings" not in runs["cold", "baseline"]["argv"]
    assert runs["cold", "baseline"]["timings"] is None or not runs["cold", "baseline"]["timings"]
    ratio = runs["cold", "baseline"]["wall_s"] / cold["wall_s"]
    assert result["ratios"]["cold"] == pytest.approx(ratio, abs=0.006)
    assert result["machine"]["gpu"] is None and result["small"] is True
    assert "cold" in out.stdout and "ratio" in out.stdout
