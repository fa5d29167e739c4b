"""Scoring throughput of miakit's signal engine against baselines measured in the same run.

Not a test: it prints a table and writes JSON. Models are random-initialised with the shapes
of real ones (throughput does not depend on the weights); token ids are random with a
realistic length distribution (lognormal, median 150, clipped to [16, 1024]).

Parts (each a ratio against a baseline measured in the same process, on the same GPU):

* ``suite``: a MIMIR-style baseline — batch 1, fp32, full logits, one forward pass per attack
  for LOSS, zlib, Min-K, Min-K%++, reference and ReCaLL — against miakit computing the same
  suite (one bf16 pass of the target with all statistics, one of the reference, one ReCaLL
  context with prefix reuse).
* ``batching``: naive padded batches in dataset order with full ``[B, T, V]`` logits, against
  miakit's length-sorted padded batches and packed varlen rows (chunked fp32 statistics).
* ``recall``: ReCaLL with a 1024-token prefix, with and without prefix KV reuse, against plain
  scoring of the same texts.
* ``gpus``: 1 vs N GPUs, data-parallel over contiguous shards (one process per GPU).

Usage (GPU):  python benchmarks/scoring.py --shapes llama-1b,pythia-1.4b,llama-8b --out r.json
Smoke test (CPU, tiny shapes):  python benchmarks/scoring.py --tiny
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from miakit.backends.hf import HFTokenScorer
from miakit.signals import PLAIN, Context
from miakit.signals.engine import SignalEngine

SHAPES: dict[str, dict[str, Any]] = {
    # Llama-3.2-1B
    "llama-1b": dict(
        kind="llama",
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=True,
    ),
    # Pythia-1.4B (GPT-NeoX)
    "pythia-1.4b": dict(
        kind="gpt_neox",
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=24,
        num_attention_heads=16,
        vocab_size=50304,
        tie_word_embeddings=False,
    ),
    # Llama-3.1-8B
    "llama-8b": dict(
        kind="llama",
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        tie_word_embeddings=False,
    ),
    # Pythia-160m: the reference model of the suite
    "pythia-160m": dict(
        kind="gpt_neox",
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        vocab_size=50304,
        tie_word_embeddings=False,
    ),
    "tiny": dict(
        kind="llama",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        tie_word_embeddings=False,
    ),
}
PEAK_BF16 = 989e12  # H100 SXM dense bf16, spec


def build_model(shape: str, device: torch.device, dtype: torch.dtype) -> Any:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

    spec = dict(SHAPES[shape])
    kind = spec.pop("kind")
    torch.manual_seed(0)
    if kind == "llama":
        cfg: Any = LlamaConfig(max_position_embeddings=4096, **spec)
        cls: Any = LlamaForCausalLM
    else:
        spec.pop("num_key_value_heads", None)
        cfg = GPTNeoXConfig(max_position_embeddings=4096, **spec)
        cls = GPTNeoXForCausalLM
    cfg._attn_implementation = "sdpa"
    with torch.device(device):
        model = cls(cfg).to(dtype)
    return model.eval()


def linear_params(model: Any) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


class IdScorer(HFTokenScorer):
    """An HF scorer over pre-tokenized inputs: the "text" ``"s<i>"`` means ``ids[i]``."""

    def __init__(self, model: Any, ids: Sequence[Sequence[int]], name: str) -> None:
        super().__init__(model, None, name=name, fingerprint=name)
        self.ids = {f"s{i}": list(x) for i, x in enumerate(ids)}

    @property
    def tokenizer_fingerprint(self) -> str:
        return "random-ids"

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.ids[t] for t in texts]

    def lead_ids(self, bos: str) -> list[int]:
        return [] if bos == "never" else [1]


def make_lengths(n: int, rng: np.random.Generator) -> list[int]:
    raw = rng.lognormal(mean=math.log(150), sigma=0.6, size=n)
    return [int(x) for x in np.clip(raw, 16, 1024)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Any, device: torch.device) -> tuple[float, float]:
    """(seconds, peak GiB) of ``fn()``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return dt, peak


# --------------------------------------------------------------------------- baselines
@torch.inference_mode()
def mimir_style(
    model32: Any,
    ref32: Any,
    ids: Sequence[Sequence[int]],
    ref_ids: Sequence[Sequence[int]],
    prefix: list[int],
) -> None:
    """Batch 1, fp32, full logits copied to the CPU, one forward pass per attack."""
    dev = next(model32.parameters()).device
    for x, rx in zip(ids, ref_ids, strict=True):
        t = torch.tensor([x], device=dev)
        for _ in range(4):  # loss, zlib, min_k, min_k++ each run their own pass
            logp = torch.log_softmax(model32(t).logits.float(), -1)[0, :-1].cpu()
            _ = logp.gather(1, torch.tensor(x[1:])[:, None])
        tr = torch.tensor([rx], device=dev)  # reference, its own vocabulary
        logp = torch.log_softmax(ref32(tr).logits.float(), -1)[0, :-1].cpu()
        tp = torch.tensor([prefix + list(x)], device=dev)  # recall: prefix prepended
        logp = torch.log_softmax(model32(tp).logits.float(), -1)[0, len(prefix) - 1 : -1].cpu()


@torch.inference_mode()
def naive_padded(model: Any, ids: Sequence[Sequence[int]], batch: int = 16) -> None:
    """Dataset order, padded batches, full [B, T, V] logits, fp32 log_softmax."""
    dev = next(model.parameters()).device
    for s in range(0, len(ids), batch):
        chunk = ids[s : s + batch]
        width = max(len(x) for x in chunk)
        t = torch.zeros((len(chunk), width), dtype=torch.long, device=dev)
        m = torch.zeros_like(t)
        for i, x in enumerate(chunk):
            t[i, : len(x)] = torch.tensor(x, device=dev)
            m[i, : len(x)] = 1
        logp = torch.log_softmax(model(t, attention_mask=m).logits.float(), -1)
        p = logp.exp()
        mu = (p * logp).sum(-1)
        _ = (p * (logp - mu[..., None]) ** 2).sum(-1)


def engine(scorer: IdScorer, packing: str, **kw: Any) -> SignalEngine:
    return SignalEngine(scorer, progress=False, packing=packing, max_length=4096, **kw)


# --------------------------------------------------------------------------- parts
@dataclass
class Row:
    part: str
    shape: str
    method: str
    seconds: float
    tokens: int
    peak_gib: float
    linear: int

    def as_dict(self, base: Row | None) -> dict[str, Any]:
        tok_s = self.tokens / self.seconds
        return {
            "part": self.part,
            "shape": self.shape,
            "method": self.method,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(tok_s, 1),
            "mfu": round(2 * self.linear * tok_s / PEAK_BF16, 4),
            "peak_gib": round(self.peak_gib, 2),
            "speedup": round(tok_s / (base.tokens / base.seconds), 2) if base else 1.0,
        }


def run_shape(shape: str, args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    vocab = SHAPES[shape]["vocab_size"]
    lengths = make_lengths(args.n_texts, rng)
    ids = [list(rng.integers(2, vocab, size=n)) for n in lengths]
    texts = [f"s{i}" for i in range(len(ids))]
    n_tok = sum(lengths)
    model = build_model(shape, device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    lin = linear_params(model)
    scorer = IdScorer(model, ids, shape)
    out: list[dict[str, Any]] = []
    stats = ("token_log_prob", "mean_log_prob", "var_log_prob")
    packed = "packed" if scorer.capabilities.packed else "padded"

    # warm-up (kernels, allocator)
    engine(scorer, packed, batch_tokens=args.batch_tokens).compute(texts[:32], stats=stats)

    # (b) batching
    if "batching" in args.parts:
        rows = []
        dt, pk = timed(lambda: naive_padded(model, ids), device)
        rows.append(Row("batching", shape, "naive padded, full logits", dt, n_tok, pk, lin))
        e = engine(scorer, "padded", batch_tokens=args.batch_tokens)
        dt, pk = timed(lambda: e.compute(texts, stats=stats), device)
        rows.append(Row("batching", shape, "miakit sorted padded", dt, n_tok, pk, lin))
        if packed == "packed":
            e = engine(scorer, "packed", batch_tokens=args.batch_tokens)
            dt, pk = timed(lambda: e.compute(texts, stats=stats), device)
            rows.append(Row("batching", shape, "miakit packed varlen", dt, n_tok, pk, lin))
            if args.compile:
                cscorer = IdScorer(model, ids, shape)
                cscorer._base = torch.compile(cscorer._decoder, dynamic=True)
                e = engine(cscorer, "packed", batch_tokens=args.batch_tokens)
                t0 = time.perf_counter()
                e.compute(texts[:200], stats=stats)  # compile (one-time, excluded below)
                warm = time.perf_counter() - t0
                dt, pk = timed(lambda: e.compute(texts, stats=stats), device)
                rows.append(
                    Row(
                        "batching",
                        shape,
                        f"packed + compiled decoder (compile {warm:.0f}s)",
                        dt,
                        n_tok,
                        pk,
                        lin,
                    )
                )
        out += [r.as_dict(rows[0]) for r in rows]

    # (c) ReCaLL prefix reuse at a 1024-token prefix
    prefix_ids = list(rng.integers(2, vocab, size=args.prefix_tokens))
    scorer.ids["PREFIX"] = prefix_ids
    ctx = Context("recall", prefix="PREFIX")
    if "recall" in args.parts:
        sub = texts[: args.recall_texts]
        sub_tok = sum(lengths[: args.recall_texts])
        # prepending is slow: timed on fewer texts (the table compares tokens/s)
        n_pre = min(args.recall_texts, 400)
        pre, pre_tok = texts[:n_pre], sum(lengths[:n_pre])
        rows = []
        runs = (
            ("plain scoring (no prefix)", packed, True, PLAIN, sub, sub_tok),
            ("prefix prepended per text", "padded", False, ctx, pre, pre_tok),
            (f"prefix KV reuse ({packed})", packed, True, ctx, sub, sub_tok),
        )
        for method, packing, reuse, context, chosen, n in runs:
            warm_up = engine(scorer, packing, batch_tokens=args.batch_tokens, prefix_reuse=reuse)
            warm_up.compute(texts[-64:], stats=stats, context=context)  # kernels, compile
            e = engine(scorer, packing, batch_tokens=args.batch_tokens, prefix_reuse=reuse)
            run = functools.partial(e.compute, chosen, stats=stats, context=context)
            dt, pk = timed(run, device)
            rows.append(Row("recall", shape, method, dt, n, pk, lin))
        out += [r.as_dict(rows[1]) for r in rows]

    # (a) the suite: MIMIR-style vs miakit
    if "suite" in args.parts and shape != "tiny-ref":
        ref = build_model(args.reference, device, model.dtype)
        ref_ids = [[int(t) % SHAPES[args.reference]["vocab_size"] for t in x] for x in ids]
        ref_scorer = IdScorer(ref, ref_ids, args.reference)
        sub = args.mimir_texts
        rows = []
        model32, ref32 = model.float(), ref.float()
        dt, pk = timed(
            lambda: mimir_style(model32, ref32, ids[:sub], ref_ids[:sub], prefix_ids[:64]), device
        )
        rows.append(
            Row(
                "suite",
                shape,
                "MIMIR-style (batch 1, fp32, 6 passes)",
                dt,
                sum(lengths[:sub]),
                pk,
                lin,
            )
        )
        model.to(torch.bfloat16 if device.type == "cuda" else torch.float32)
        ref.to(model.dtype)
        scorer.ids["PREFIX64"] = prefix_ids[:64]
        ctx64 = Context("recall64", prefix="PREFIX64")

        def suite() -> None:
            e = engine(scorer, packed, batch_tokens=args.batch_tokens)
            e.compute(texts, stats=stats)
            engine(
                ref_scorer,
                "packed" if ref_scorer.capabilities.packed else "padded",
                batch_tokens=args.batch_tokens,
            ).compute(texts, stats=("token_log_prob",))
            e.compute(texts, stats=("token_log_prob",), context=ctx64)

        dt, pk = timed(suite, device)
        rows.append(Row("suite", shape, "miakit (same suite)", dt, n_tok, pk, lin))
        out += [r.as_dict(rows[0]) for r in rows]
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def _worker(rank: int, shape: str, args: argparse.Namespace, q: Any) -> None:
    device = torch.device(f"cuda:{rank}")
    torch.cuda.set_device(device)
    rng = np.random.default_rng(0)
    vocab = SHAPES[shape]["vocab_size"]
    lengths = make_lengths(args.n_texts, rng)
    ids = [list(rng.integers(2, vocab, size=n)) for n in lengths]
    world = args.world
    lo, hi = rank * len(ids) // world, (rank + 1) * len(ids) // world
    model = build_model(shape, device, torch.bfloat16)
    scorer = IdScorer(model, ids, shape)
    packed = "packed" if scorer.capabilities.packed else "padded"
    e = engine(scorer, packed, batch_tokens=args.batch_tokens)
    texts = [f"s{i}" for i in range(lo, hi)]
    e.compute(texts[:16], stats=("token_log_prob",))
    q.put(("ready", rank))
    sync(device)
    t0 = time.perf_counter()
    e.compute(texts, stats=("token_log_prob", "mean_log_prob", "var_log_prob"))
    sync(device)
    q.put(("done", rank, time.perf_counter() - t0, sum(lengths[lo:hi])))


def run_gpus(shape: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    n = torch.cuda.device_count()
    out = []
    base = None
    for world in sorted({1, n}):
        args.world = world
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(r, shape, args, q)) for r in range(world)]
        for p in procs:
            p.start()
        msgs = [q.get() for _ in range(2 * world)]
        for p in procs:
            p.join()
        done = [m for m in msgs if m[0] == "done"]
        wall = max(m[2] for m in done)  # the slowest shard decides
        tokens = sum(m[3] for m in done)
        row = {
            "part": "gpus",
            "shape": shape,
            "method": f"{world} GPU(s)",
            "tokens": tokens,
            "seconds": round(wall, 3),
            "tokens_per_s": round(tokens / wall, 1),
        }
        base = base or row
        row["speedup"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2)
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--shapes", default="llama-1b,pythia-1.4b,llama-8b")
    ap.add_argument("--parts", default="suite,batching,recall,gpus")
    ap.add_argument("--n-texts", type=int, default=2000)
    ap.add_argument("--mimir-texts", type=int, default=48)
    ap.add_argument("--recall-texts", type=int, default=1200)
    ap.add_argument("--prefix-tokens", type=int, default=1024)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--reference", default="pythia-160m")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke test with tiny shapes")
    ap.add_argument("--compile", action="store_true", help="also time a compiled decoder")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    args.parts = set(args.parts.split(","))
    if args.tiny:
        args.shapes, args.reference = "tiny", "tiny"
        args.n_texts, args.mimir_texts, args.recall_texts = 24, 4, 8
        args.prefix_tokens, args.batch_tokens = 64, 2048
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    rows: list[dict[str, Any]] = []
    for shape in args.shapes.split(","):
        rows += run_shape(shape, args, device)
        for r in rows:
            if r["shape"] == shape:
                print(json.dumps(r), flush=True)
    if "gpus" in args.parts and device.type == "cuda" and torch.cuda.device_count() > 1:
        for shape in args.shapes.split(","):
            rows += run_gpus(shape, args)
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nGPU: {gpu}; torch {torch.__version__}")
    header = f"{'part':9} {'shape':12} {'method':40} {'tok/s':>10} {'MFU':>6} {'GiB':>6} {'x':>6}"
    print(header)
    for r in rows:
        print(
            f"{r['part']:9} {r['shape']:12} {r['method']:40} {r['tokens_per_s']:>10.0f} "
            f"{r.get('mfu', float('nan')):>6.3f} {r.get('peak_gib', float('nan')):>6.2f} "
            f"{r['speedup']:>6.2f}"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"gpu": gpu, "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
