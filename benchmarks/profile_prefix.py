"""Where the time goes in ReCaLL prefix reuse vs plain scoring (GPU profiler, top kernels)."""

from __future__ import annotations

import sys

import numpy as np
import torch
from scoring import IdScorer, build_model, make_lengths

from miakit.signals import Context
from miakit.signals.engine import SignalEngine


def main() -> None:
    shape = sys.argv[1] if len(sys.argv) > 1 else "llama-8b"
    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    lengths = make_lengths(300, rng)
    ids = [list(rng.integers(2, 128000, size=n)) for n in lengths]
    model = build_model(shape, device, torch.bfloat16)
    scorer = IdScorer(model, ids, shape)
    scorer.ids["P"] = list(rng.integers(2, 128000, size=1024))
    texts = [f"s{i}" for i in range(len(ids))]
    stats = ("token_log_prob", "mean_log_prob", "var_log_prob")
    for name, ctx in (("plain", None), ("reuse", Context("p", prefix="P"))):
        eng = SignalEngine(scorer, progress=False, packing="packed", max_length=4096)
        kw = {"context": ctx} if ctx else {}
        eng.compute(texts[:50], stats=stats, **kw)  # warm-up
        eng = SignalEngine(scorer, progress=False, packing="packed", max_length=4096)
        torch.cuda.synchronize()
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        ) as prof:
            eng.compute(texts, stats=stats, **kw)
            torch.cuda.synchronize()
        print(f"===== {name}: rows {eng.n_forward_batches}")
        print(
            prof.key_averages().table(
                sort_by="cuda_time_total", row_limit=14, max_name_column_width=60
            )
        )


if __name__ == "__main__":
    main()
