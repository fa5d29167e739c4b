"""Where the GPU time goes: top kernels of plain scoring and of ReCaLL prefix reuse.

    python benchmarks/profile_prefix.py llama-8b            # plain and prefix reuse
    python benchmarks/profile_prefix.py llama-8b --compile  # plain scoring, compiled decoder

Prints the profiler's top kernels and the share of GPU time spent in matrix multiplications
(GEMM kernels) against everything else, and the GPU-busy fraction of the wall time.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from scoring import IdScorer, build_model, make_lengths

from miakit.signals import Context
from miakit.signals.engine import SignalEngine

GEMM_MARKERS = ("gemm", "sm90_xmma", "cutlass", "nvjet", "cublas", "mm_")


def main() -> None:
    shape = next((a for a in sys.argv[1:] if not a.startswith("--")), "llama-8b")
    compiled = "--compile" in sys.argv
    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    lengths = make_lengths(600, rng)
    ids = [list(rng.integers(2, 128000, size=n)) for n in lengths]
    model = build_model(shape, device, torch.bfloat16)
    scorer = IdScorer(model, ids, shape)
    if compiled:
        scorer._base = torch.compile(scorer._decoder, dynamic=True)
    scorer.ids["P"] = list(rng.integers(2, 128000, size=1024))
    texts = [f"s{i}" for i in range(len(ids))]
    stats = ("token_log_prob", "mean_log_prob", "var_log_prob")
    cases: list[tuple[str, Context | None]] = [("plain", None)]
    if not compiled:
        cases.append(("reuse", Context("p", prefix="P")))
    for name, ctx in cases:
        kw = {"context": ctx} if ctx else {}
        for _ in range(2):  # warm-up, including dynamic-shape recompilation
            eng = SignalEngine(scorer, progress=False, packing="packed", max_length=4096)
            eng.compute(texts[-100:], stats=stats, **kw)
        eng = SignalEngine(scorer, progress=False, packing="packed", max_length=4096)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            eng.compute(texts[:500], stats=stats, **kw)
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        events = prof.key_averages()
        total = sum(e.self_device_time_total for e in events)
        gemm = sum(
            e.self_device_time_total
            for e in events
            if any(m in e.key.lower() for m in GEMM_MARKERS)
        )
        print(f"===== {name}{' (compiled)' if compiled else ''}: rows {eng.n_forward_batches}")
        print(
            f"GPU busy {total / 1e6:.2f} s of {wall:.2f} s wall; GEMM kernels "
            f"{100 * gemm / max(total, 1):.1f}% of GPU time"
        )
        table = events.table(sort_by="self_device_time_total", row_limit=16)
        print(table)


if __name__ == "__main__":
    main()
