"""What ``torch.compile`` of the token statistics costs and saves, per process (issue 15).

The engine's statistics step (:func:`miakit.signals.stats.token_stats_fast`) is compiled on
CUDA. Compiling costs seconds in every fresh process, even with torch's on-disk caches warm;
it saves the extra passes over each logits chunk that the eager path makes. This script
measures both, in fresh processes, so the engine can decide from a job's size whether
compiling pays:

- ``first_call_s``: the first call on one chunk, compilation included (process 1 has cold
  on-disk caches when ``--fresh-cache`` is given, process 2 reuses them);
- ``compiled_per_token_ns`` and ``eager_per_token_ns``: steady-state time per scored token.

Run on a GPU::

    PYTHONPATH=src python benchmarks/compile_cost.py --vocab 50304 --out-json OUT.json

It prints one line per process and the break-even token count (compile cost divided by the
per-token saving). Nothing downloads; the logits are random.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATS = ("token_log_prob", "mean_log_prob", "var_log_prob", "token_rank")


def _child(vocab: int, chunk: int, reps: int) -> dict[str, float]:
    import torch

    from miakit.signals import stats as S

    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    logits = torch.randn(chunk, vocab, device=dev, generator=g) * 3
    targets = torch.randint(0, vocab, (chunk,), device=dev, generator=g)
    torch.cuda.synchronize()

    t0 = time.perf_counter()
    S.token_stats_fast(logits, targets, STATS)
    torch.cuda.synchronize()
    first = time.perf_counter() - t0

    def timed(fn: object) -> float:
        for _ in range(2):
            fn(logits, targets, STATS)  # type: ignore[operator]
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            fn(logits, targets, STATS)  # type: ignore[operator]
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / reps

    compiled = timed(S.token_stats_fast)
    eager = timed(S.token_stats)
    return {
        "first_call_s": first,
        "compiled_per_token_ns": compiled / chunk * 1e9,
        "eager_per_token_ns": eager / chunk * 1e9,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab", type=int, default=50304)
    p.add_argument("--chunk", type=int, default=0, help="rows per chunk (default: the engine's)")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--fresh-cache", action="store_true", help="start from empty on-disk caches")
    p.add_argument("--out-json", type=Path)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    chunk = a.chunk or max(1, (1 << 26) // a.vocab)
    if a.child:
        print(json.dumps(_child(a.vocab, chunk, a.reps)))
        return
    env = dict(os.environ)
    if a.fresh_cache:
        env["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
        env["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="triton-")
    rows = []
    for i in range(a.processes):
        t = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", "--vocab", str(a.vocab), "--reps", str(a.reps)]
        cmd += ["--chunk", str(chunk)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["process_wall_s"] = time.perf_counter() - t
        rows.append(row)
        print(f"process {i + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()), flush=True)
    warm = rows[-1]
    saving = (warm["eager_per_token_ns"] - warm["compiled_per_token_ns"]) * 1e-9
    eager_first = warm["eager_per_token_ns"] * 1e-9 * chunk
    cost = warm["first_call_s"] - eager_first
    breakeven = cost / saving if saving > 0 else float("inf")
    print(
        f"compile cost (warm caches) {cost:.2f} s; saving {saving * 1e9:.3f} ns/token; "
        f"break-even {breakeven:,.0f} scored tokens",
        flush=True,
    )
    if a.out_json:
        import torch

        result = {
            "gpu": torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "vocab": a.vocab,
            "chunk": chunk,
            "stats": STATS,
            "processes": rows,
            "fresh_cache": a.fresh_cache,
            "compile_cost_warm_s": cost,
            "breakeven_tokens": breakeven,
        }
        a.out_json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
