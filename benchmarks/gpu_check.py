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
    from miakit.backends.hf.attention import _prefix_merge_cuda, _varlen_reference

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


def check_compiled_paired() -> None:
    """The compiled paired statistics against the eager ones on random fp32 logits."""
    from miakit.signals.paired import paired_token_stats, paired_token_stats_fast
    from miakit.signals.spec import PAIRED_STATS

    g = torch.Generator(device="cuda").manual_seed(1)
    lp = torch.randn(4096, 50304, generator=g, device="cuda") * 3
    lq = torch.randn(4096, 50304, generator=g, device="cuda") * 3
    eager = paired_token_stats(lp, lq, PAIRED_STATS)
    fast = paired_token_stats_fast(lp, lq, PAIRED_STATS)
    for name in PAIRED_STATS:
        rel = ((fast[name] - eager[name]).abs() / eager[name].abs().clamp_min(1e-6)).max()
        print(f"compiled paired {name}: max relative diff {rel.item():.2e}")


def count_host_syncs(scorer: IdScorer, texts: list[str], ctx: Context | None) -> None:
    """Synchronising operations per forward unit (the pipeline needs about one per unit)."""
    import warnings

    kw = {"context": ctx} if ctx is not None else {}
    stats = ("token_log_prob", "mean_log_prob", "var_log_prob")
    SignalEngine(scorer, progress=False, packing="packed", max_length=4096).compute(
        texts[:40], stats=stats, **kw
    )  # warm-up: compilation syncs are not counted
    eng = SignalEngine(scorer, progress=False, packing="packed", max_length=4096)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            eng.compute(texts, stats=stats, **kw)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    where = sorted({str(w.message).splitlines()[0][:90] for w in caught})
    print(
        f"host syncs ({'prefix reuse' if ctx else 'plain'}): {len(caught)} in "
        f"{eng.n_forward_batches} units; {where[:4]}"
    )


def main() -> None:
    from miakit.backends.hf.attention import probe_native_gqa

    print(
        "varlen attention takes grouped KV heads natively:", probe_native_gqa(torch.device("cuda"))
    )
    check_prefix_merge()
    check_compiled_paired()
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
        if dtype == torch.bfloat16:
            count_host_syncs(scorer, texts, None)
            count_host_syncs(scorer, texts, ctx)
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
