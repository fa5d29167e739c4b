"""End-to-end wall time of ``miakit run``, each case in a fresh process, against older code.

Not a test. The job is issue 15's: a random-initialised Pythia-1.4B-shaped target with a
Pythia-160m-shaped reference (fp32 safetensors, written once to a scratch folder), attacks
loss, zlib, min_k, min_k_plus_plus, reference, recall (1 shot) and dc_pdd, with the blind
baselines and the report, on texts of real prose (two Wikipedia lead extracts each; see
``e2e_setup.py``). Cases (each a new ``python -m miakit run`` process):

* ``first``: first run, fresh cache dir; before it the page cache of the weights and the
  libraries is dropped and the compile/font caches start empty (a fresh machine, nearly);
* ``cold``: cold signal cache, warm machine: ``first``'s cache dir, 400 other texts;
* ``cold_newdir``: the same texts with a new cache dir too (weight fingerprints and dc_pdd's
  frequency counts are computed again);
* ``cached``: ``cold`` again, every signal cached;
* ``texts4000``: 4,000 other texts, blind baselines on;
* ``loss_only``: loss only, no reference, ``--no-blind``, 400 other texts;
* ``8b_first``, ``8b_cold`` (``--include-8b``): the target is Llama-3-8B-shaped (bf16, 4
  shards); the first 8B process, then one on other texts.

With ``--baseline-src DIR`` (an older source tree, run with ``PYTHONPATH=DIR``) every case runs
with both codes, one after the other, each with its own cache and compile folders, and the
ratios are printed. A code without ``--timings`` gives its total wall time only.

    python benchmarks/e2e.py prepare --baseline-commit 23acaf3       # here: benchmarks/_e2e
    PYTHONUNBUFFERED=1 python benchmarks/e2e.py run --baseline-src benchmarks/_e2e/baseline \\
        --out-json "$OUT"                                            # on the GPU machine
    python benchmarks/e2e.py run --small --device cpu                # CPU smoke run, minutes
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from e2e_run import Case, Version, log, run_one, src_of  # noqa: E402

CASES = [
    Case("first", "first run: fresh cache dir, page cache dropped", "A", 400, 80, cold=True),
    Case("cold", "cold signals, warm machine (first's cache dir)", "B", 400, 80, target_s=8),
    Case("cold_newdir", "cold signals, new cache dir", "B", 400, 80, cache="c2", target_s=8),
    Case("cached", "rerun of cold: every signal cached", "B", 400, 80, target_s=3),
    Case("texts4000", "4,000 texts, blind baselines", "D", 4000, 400, target_s=20),
    Case("loss_only", "loss only, no reference, --no-blind", "E", 400, 80, job="loss", blind=False),
    Case("8b_first", "8B target: first 8B process", "A", 400, 80, target="target8b"),
    Case("8b_cold", "8B target: cold signals, warm machine", "E", 400, 80, target="target8b"),
]
DEFAULT = ["first", "cold", "cold_newdir", "cached", "texts4000", "loss_only"]
MODELS = {
    "target": ("pythia-1.4b", "small-target"),
    "reference": ("pythia-160m", "small-reference"),
    "target8b": ("llama-8b", "small-llama"),
}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def summarise(result: dict[str, Any]) -> str:
    runs = {(r["case"], r["version"]): r for r in result["runs"]}
    lines = [
        "",
        f"{'case':<12} {'texts':>5}  {'current':>9}  {'RSS GB':>6}  {'target':>8}  "
        f"{'baseline':>9}  {'RSS GB':>6}  {'ratio':>6}  what",
    ]
    ratios = {}

    def ok(r: dict[str, Any] | None) -> bool:
        return r is not None and r["rc"] == 0

    def status(r: dict[str, Any] | None) -> str:
        return fmt_s(r["wall_s"]) if r is not None and ok(r) else f"rc={r['rc']}" if r else "-"

    def rss(r: dict[str, Any] | None) -> str:
        return f"{r['max_rss_gb']:.1f}" if r and "max_rss_gb" in r else "-"

    for c in (Case(**d) for d in result["cases"]):
        cur, base = runs.get((c.name, "current")), runs.get((c.name, "baseline"))
        cw = cur["wall_s"] if cur is not None and ok(cur) else None
        bw = base["wall_s"] if base is not None and ok(base) else None
        ratio = f"{bw / cw:.1f}x" if cw and bw else "-"
        if cw and bw:
            ratios[c.name] = round(bw / cw, 2)
        tgt = "-"
        if c.target_s is not None and not result["small"]:
            met = cw is not None and cw <= c.target_s
            tgt = f"<={c.target_s:g}{'' if cw is None else (' ok' if met else ' NO')}"
        lines.append(
            f"{c.name:<12} {result['n'][c.name]:>5}  {status(cur):>9}  {rss(cur):>6}  "
            f"{tgt:>8}  {status(base):>9}  {rss(base):>6}  {ratio:>6}  {c.what}"
        )
    result["ratios"] = ratios
    lines.append(
        "wall times of whole processes; RSS: the process's peak resident memory (a "
        "loaded model shows: compare cached with cold); ratio = baseline / current "
        "wall (same machine, same run); targets: issue 15's (cached: also no model "
        "loaded)"
    )
    for r in result["runs"]:
        t = r.get("timings")
        if t:
            stages = sorted(((k, s) for k, s in t.items() if k != "total"), key=lambda x: -x[1])
            shown = ", ".join(f"{k} {s:.2f}" for k, s in stages[:9])
            lines.append(
                f"  {r['case']}/{r['version']}: total {t.get('total', 0):.2f} s "
                f"(+{r.get('outside_run_s', 0):.2f} s outside): {shown}"
            )
    return "\n".join(lines)


def save(result: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = slug(result["machine"].get("gpu") or "cpu") + ("_small" if result["small"] else "")
    path = out_dir / f"e2e_{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def write_models(scratch: Path, data: Path, device: str, small: bool, names: list[str]) -> dict:
    args = [f"{n}={MODELS[n][1 if small else 0]}" for n in names]
    cmd = [
        sys.executable,
        str(HERE / "e2e_setup.py"),
        "write-models",
        str(scratch / "models"),
        str(data / "tokenizer"),
        "cpu" if device == "cpu" else "cuda",
        *args,
    ]
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"writing the models failed:\n{out.stderr[-3000:]}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    sizes = ", ".join(f"{k} {v['bytes'] / 1e9:.2f} GB" for k, v in info["written"].items())
    log(f"models {', '.join(args)} ready in {time.perf_counter() - t:.0f} s ({sizes})")
    return info


def commit_of(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_start = time.perf_counter()
    data = Path(args.data).resolve()
    if not (data / "manifest.json").is_file():
        raise SystemExit(
            f"{data} is not prepared: run `python benchmarks/e2e.py prepare` "
            "(where the demo's assets are installed) and carry that folder"
        )
    if importlib.util.find_spec("datasketch") is None:
        raise SystemExit(
            "datasketch is missing (miakit's overlap checks need it): install its "
            "wheel, e.g. pip install --no-deps --target /tmp/site datasketch-*.whl "
            "and export PYTHONPATH=/tmp/site"
        )
    names = [c.strip() for c in args.cases.split(",")] if args.cases else list(DEFAULT)
    if args.include_8b:
        names += [n for n in ("8b_first", "8b_cold") if n not in names]
    by_name = {c.name: c for c in CASES}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; cases: {', '.join(by_name)}")
    cases = [by_name[n] for n in names]
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="miakit-e2e-")).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    device = args.device
    need = ["target", "reference"]
    info = write_models(scratch, data, device, args.small, need)
    models = {n: scratch / "models" / n for n in MODELS}
    written_at = time.time()
    threads = args.threads if args.threads is not None else (1 if args.small else None)
    versions = [Version("current", src_of(ROOT), scratch, threads)]
    if args.baseline_src:
        versions.append(Version("baseline", src_of(Path(args.baseline_src)), scratch, threads))
    for v in versions:
        v.probe()
    result: dict[str, Any] = {
        "benchmark": "e2e",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit_of(args.commit),
        "baseline": (Path(args.baseline_src) / "COMMIT").read_text().strip()
        if args.baseline_src and (Path(args.baseline_src) / "COMMIT").is_file()
        else args.baseline_src,
        "small": args.small,
        "device": device,
        "cold_mode": args.cold,
        "threads": threads,
        "machine": {k: info[k] for k in ("gpu", "torch", "transformers", "cuda", "python", "cpus")},
        "models": info["written"],
        "data": json.loads((data / "manifest.json").read_text()),
        "cases": [asdict(c) for c in cases],
        "n": {c.name: c.n_small if args.small else c.n for c in cases},
        "runs": [],
    }
    ctx = {
        "data": data,
        "scratch": scratch,
        "models": models,
        "device": device,
        "cold": args.cold,
        "n": lambda c: result["n"][c.name],
    }
    time.sleep(max(0.0, 3.0 - (time.time() - written_at)))  # past the digests' racy window
    for case in cases:
        if case.target == "target8b" and "target8b" not in need:
            if args.budget_s - (time.perf_counter() - t_start) < 150:
                log("skipping the 8B cases: too little of the budget left")
                break
            need.append("target8b")
            result["models"].update(
                write_models(scratch, data, device, args.small, ["target8b"])["written"]
            )
        for v in versions:
            if v.name == "baseline" and case.target == "target8b" and not args.baseline_8b:
                continue
            left = args.budget_s - (time.perf_counter() - t_start)
            if left < 10:
                log(f"budget spent: {case.name}/{v.name} skipped")
                result["runs"].append({"case": case.name, "version": v.name, "rc": "skipped"})
                continue
            log(f"{case.name}/{v.name}: {case.what}, {result['n'][case.name]} texts ...")
            rec = run_one(case, v, ctx, min(args.process_timeout, left))
            result["runs"].append(rec)
            t = rec.get("timings") or {}
            log(
                f"{case.name}/{v.name}: rc={rec['rc']} wall {rec['wall_s']:.2f} s, "
                f"peak RSS {rec.get('max_rss_gb', 0):.1f} GB, CPU {rec.get('cpu_s', 0):.0f} s"
                + (f" (run {t['total']:.2f} s, signals {rec['signals_s']:.2f} s)" if t else "")
            )
            if rec["rc"] != 0:
                log(rec.get("log_tail", "")[-1500:])
            save(result, Path(args.out_json))
    text = summarise(result)
    path = save(result, Path(args.out_json))
    print(text, flush=True)
    log(f"wrote {path}; whole benchmark {time.perf_counter() - t_start:.0f} s")
    if not args.keep_scratch and not args.scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("prepare", help="write the data folder (texts, tokenizer, old code)")
    p.add_argument("--data", default=str(HERE / "_e2e"), help="data folder (benchmarks/_e2e)")
    p.add_argument("--texts", help="prose instead of the Wikipedia extracts (.jsonl/.txt)")
    p.add_argument("--tokenizer", help="tokenizer folder instead of SmolLM2's")
    p.add_argument(
        "--baseline-commit",
        help="also `git archive` this commit's src into DATA/baseline (for --baseline-src)",
    )
    r = sub.add_parser("run", help="run the cases")
    r.add_argument("--data", default=str(HERE / "_e2e"))
    r.add_argument("--baseline-src", help="older source tree (DIR/src/miakit or DIR/miakit)")
    r.add_argument("--out-json", default=str(HERE / "results"), help="folder for the JSON")
    r.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    r.add_argument("--small", action="store_true", help="tiny models, 80/400 texts (smoke)")
    r.add_argument(
        "--threads",
        type=int,
        help="OMP_NUM_THREADS of the runs (default: 1 with --small, which a shared 2-core "
        "machine runs 2-4x faster, else torch's own choice)",
    )
    r.add_argument("--cases", help=f"comma-separated, default {','.join(DEFAULT)}")
    r.add_argument("--include-8b", action="store_true", help="add 8b_first and 8b_cold")
    r.add_argument(
        "--baseline-8b", action="store_true", help="run the 8B cases on the baseline too (slow)"
    )
    r.add_argument(
        "--cold",
        choices=("drop", "fadvise", "none"),
        default=None,
        help="how `first` drops the page cache (default: drop on cuda, none on cpu)",
    )
    r.add_argument(
        "--budget-s",
        type=float,
        default=510.0,
        help="stop starting runs after this many seconds (default 510: one device command)",
    )
    r.add_argument("--process-timeout", type=float, default=240.0)
    r.add_argument("--scratch", help="scratch folder (kept; default: a temporary one)")
    r.add_argument("--keep-scratch", action="store_true")
    r.add_argument("--commit", help="commit of the code under test (default: git rev-parse)")
    args = parser.parse_args(argv)
    if args.verb == "prepare":
        from e2e_setup import prepare

        manifest = prepare(Path(args.data), args.texts, args.tokenizer, args.baseline_commit)
        print(json.dumps(manifest, indent=1))
        return
    if args.cold is None:
        args.cold = "none" if args.device == "cpu" else "drop"
    run(args)


if __name__ == "__main__":
    main()
