"""GPU correctness of the fast paths (run through the device tool; not part of CI).

Compares, on a random-initialised Llama-shaped model on CUDA, the packed varlen path and the
prefix-reuse path against the padded reference path, in fp32 and bf16, and prints the largest
per-token differences of every statistic.
"""

from __future__ import annotations

import numpy as np
import torch
from scoring import IdScorer, build_model

from miakit.signals import TOKEN_STATS, Context
from miakit.signals.engine import SignalEngine


def check_prefix_merge() -> None:
    """The two-call LSE merge against one exact fp32 attention over [prefix ; own tokens]."""
    from miakit.signals.packed import _prefix_merge_cuda, _varlen_reference

    g = torch.Generator(device="cuda").manual_seed(0)
    lens, n_p, hq, hkv, d = [37, 150, 5, 80], 256, 8, 2, 64
    t = sum(lens)
    cu = torch.tensor([0, *np.cumsum(lens)], dtype=torch.int32, device="cuda")

    def rnd(*shape):
        return torch.randn(*shape, generator=g, device="cuda", dtype=torch.bfloat16)

    q, k, v, pk, pv = (
        rnd(t, hq, d),
        rnd(t, hkv, d),
        rnd(t, hkv, d),
        rnd(n_p, hkv, d),
        rnd(n_p, hkv, d),
    )
    bounds = (
        torch.tensor([0, t], dtype=torch.int32, device="cuda"),
        torch.tensor([0, n_p], dtype=torch.int32, device="cuda"),
    )
    merged = _prefix_merge_cuda(q, k, v, pk, pv, cu, max(lens), None, bounds)
    assert merged is not None, "LSE merge unavailable on this torch"
    keys, vals, cu_k = [], [], [0]
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist(), strict=True):
        keys += [pk, k[a:b]]
        vals += [pv, v[a:b]]
        cu_k.append(cu_k[-1] + n_p + b - a)
    ref = _varlen_reference(
        q.float(),
        torch.cat(keys).float(),
        torch.cat(vals).float(),
        cu,
        torch.tensor(cu_k, device="cuda"),
        None,
    )
    err = (merged.float() - ref).abs()
    print(
        f"prefix LSE merge vs exact fp32: max {err.max().item():.4f}, mean {err.mean().item():.5f}"
    )


def main() -> None:
    check_prefix_merge()
    device = torch.device("cuda")
    rng = np.random.default_rng(0)
    for dtype in (torch.float32, torch.bfloat16):
        model = build_model("llama-1b", device, dtype)
        lengths = [int(x) for x in np.clip(rng.lognormal(np.log(150), 0.6, 300), 16, 1024)]
        ids = [list(rng.integers(2, 128000, size=n)) for n in lengths]
        scorer = IdScorer(model, ids, "llama-1b")
        scorer.ids["P"] = list(rng.integers(2, 128000, size=256))
        texts = [f"s{i}" for i in range(len(ids))]
        stats = tuple(
            s
            for s in TOKEN_STATS
            if s in ("token_log_prob", "mean_log_prob", "var_log_prob", "token_rank")
        )
        ref = SignalEngine(
            scorer, progress=False, packing="padded", max_length=4096, batch_tokens=16384
        ).compute(texts, stats=stats)
        packed = SignalEngine(
            scorer, progress=False, packing="packed", max_length=4096, batch_tokens=16384
        ).compute(texts, stats=stats)
        ctx = Context("p", prefix="P")
        prepend = SignalEngine(
            scorer, progress=False, packing="padded", max_length=4096, prefix_reuse=False
        ).compute(texts[:100], stats=stats, context=ctx)
        reuse = SignalEngine(
            scorer, progress=False, packing="padded", max_length=4096, prefix_reuse=True
        ).compute(texts[:100], stats=stats, context=ctx)
        reuse_packed = SignalEngine(
            scorer, progress=False, packing="packed", max_length=4096, prefix_reuse=True
        ).compute(texts[:100], stats=stats, context=ctx)
        for name, a, b in (
            ("packed vs padded", ref, packed),
            ("reuse vs prepend", prepend, reuse),
            ("packed reuse vs prepend", prepend, reuse_packed),
        ):
            assert np.array_equal(a.offsets, b.offsets)
            diffs = {s: float(np.abs(a.flat(s) - b.flat(s)).max()) for s in stats}
            means = {s: float(np.abs(a.flat(s) - b.flat(s)).mean()) for s in stats}
            print(f"{dtype} {name}: max |diff| {diffs}; mean |diff| {means}", flush=True)
        del model, scorer
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
