"""Concurrent vs sequential shadow training of the same models, and one whole experiment.

What it measures (issue 14's "done when"):

1. the whole experiment, timed: ``miakit.shadow.train`` with the concurrent (``torch.func``)
   trainer, the signals, then every classifier attack leave-one-out (each model the target
   in turn), plus offline LiRA/RMIA with 1, 2 and 4 reference models per example;
2. the sequential trainer on the same models (same seed, same data, same batches): its wall
   time, the speed-up of the concurrent trainer, and how far the two sets of weights are
   apart. It stops after the model that passes ``--seq-budget-s`` (150 s), so that the run
   fits its time; the speed-up is then extrapolated from the models it trained (recorded);
3. the noise floor of that comparison: model 0 trained sequentially once more (the same
   seed: on a GPU, non-deterministic kernels and TF32 convolutions make this differ) and once
   from an initialisation scaled by 1 + 1e-7 (how fast a tiny difference grows);
4. for the CNN, the concurrent trainer with its convolutions as unfold + batched matmul
   (``unfold_convs``) instead of vmapped (grouped) convolutions, timed on
   ``--unfold-epochs`` (5) epochs and scaled to the run's epochs.

The defaults follow the LiRA paper's set-up (arXiv 2112.03570: every shadow model overfits
its half of the pool, no augmentation while training): 5,000 examples per model (a
10,000-example pool), 30 epochs, batch 128, Adam 2e-3.

Both trainers are warmed up first (CUDA context, cuDNN autotuning, the optimiser's first
import) on one epoch of all models with the same batch shapes, so neither pays start-up costs
inside its timing.

GPU (one H200; the defaults are sized for under 6 minutes)::

    .venv/bin/python benchmarks/shadow.py --device cuda \\
        --out-json benchmarks/results/shadow_h200.json

CPU smoke test (seconds)::

    .venv/bin/python benchmarks/shadow.py --data digits --model cnn --n-models 4 \\
        --pool-size 200 --epochs 1 --device cpu --n-bootstrap 20 --jobs 1

``--seq-models K`` caps the sequential models at K. The results JSON is written once after
the concurrent experiment and again at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from miakit.errors import InvalidParameterError
from miakit.shadow import ShadowSignals, store, train
from miakit.shadow.attack_run import FEW_REFERENCE_ATTACKS
from miakit.shadow.attacks import default_registry
from miakit.shadow.concurrent import train_concurrent
from miakit.shadow.data import load_data
from miakit.shadow.evaluate import evaluate_attacks
from miakit.shadow.models import model_factory
from miakit.shadow.train import TrainConfig, train_sequential

FEW_REFERENCES = (1, 2, 4)


def _evaluate(job: tuple[str, str, int | None, int, int]) -> tuple[str, dict[str, Any], float]:
    """One attack in a worker process: ``(result name, metrics, seconds)``."""
    folder, attack, per_side, n_bootstrap, seed = job
    t0 = time.perf_counter()
    signals = ShadowSignals.load(Path(folder) / store.SIGNALS)
    name = attack if per_side is None else f"{attack}_ref{per_side}"
    try:
        out = evaluate_attacks(
            signals, attacks=[attack], per_side=per_side, n_bootstrap=n_bootstrap, seed=seed
        )[attack]
    except InvalidParameterError as exc:  # e.g. per-example variance with too few models
        out = {"skipped": str(exc)}
    return name, out, time.perf_counter() - t0


def _references(attacks: dict[str, Any], all_per_side: int) -> dict[str, Any]:
    """Per few-reference attack: AUROC and TPR at 0.1% / 1% FPR with 1, 2, 4 and all
    references per side (the plain name), side by side."""
    table: dict[str, Any] = {}
    for base in FEW_REFERENCE_ATTACKS:
        row = {}
        for k, name in [(str(k), f"{base}_ref{k}") for k in FEW_REFERENCES] + [
            (f"all ({all_per_side})", base)
        ]:
            if name in attacks:
                m = attacks[name]
                row[k] = {
                    "auroc": m["auroc"],
                    "tpr_at_0.001": m["tpr_at_fpr"]["0.001"],
                    "tpr_at_0.01": m["tpr_at_fpr"]["0.01"],
                }
        table[base] = row
    return table


def _machine(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32  # convolutions in TF32
        info["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return info


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": args.model,
        "n_models": args.n_models,
        "pool_size": args.pool_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "max_concurrent": args.max_concurrent,
    }


def _sequential(
    args: argparse.Namespace, folder: Path, k_max: int, *, init_scale: float = 1.0
) -> tuple[float, dict[int, dict[str, torch.Tensor]]]:
    """Train models 0, 1, ... of ``folder``'s experiment one by one (in memory), until
    ``k_max`` are done or ``--seq-budget-s`` is spent: ``(seconds, {model: state})``.
    ``init_scale``: multiply the initial parameters by it (the noise-floor control)."""
    plain, x, y, membership, dev = _setup(args, folder)

    def factory() -> torch.nn.Module:
        net = plain()
        with torch.no_grad():
            for param in net.parameters():
                param.mul_(init_scale)  # 1.0: exactly the same weights
        return net

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    states: dict[int, dict[str, torch.Tensor]] = {}
    t0 = time.perf_counter()
    for m in range(k_max):
        train_sequential(
            factory, x, y, membership, config, models=[m], device=dev,
            on_trained=lambda i, state: states.__setitem__(i, state),
        )  # fmt: skip
        _sync(args.device)
        if time.perf_counter() - t0 > args.seq_budget_s:
            break
    return time.perf_counter() - t0, states


def _setup(
    args: argparse.Namespace, folder: Path
) -> tuple[Any, torch.Tensor, torch.Tensor, Any, torch.device]:
    """``(factory, x, y, membership, device)`` of ``folder``'s experiment."""
    ds = load_data(args.data)
    pool = store.load_array(folder, store.POOL)
    _, factory = model_factory(args.model, ds.input_shape, ds.n_classes)
    dev = torch.device(args.device)
    x, y = (torch.as_tensor(a[pool], device=dev) for a in (ds.x, ds.y))
    return factory, x, y, store.load_array(folder, store.MEMBERSHIP), dev


def _concurrent_unfolded(
    args: argparse.Namespace, folder: Path, epochs: int
) -> tuple[float, dict[int, dict[str, torch.Tensor]]]:
    """All models of ``folder``'s experiment trained concurrently again (in memory), with the
    CNN's convolutions as unfold + batched matmul: ``(seconds, {model: state})``."""
    factory, x, y, membership, dev = _setup(args, folder)
    config = TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    states: dict[int, dict[str, torch.Tensor]] = {}
    _sync(args.device)
    t0 = time.perf_counter()
    train_concurrent(
        factory, x, y, membership, config, models=range(args.n_models), device=dev,
        max_concurrent=args.max_concurrent, unfold_convs=True,
        on_trained=lambda i, state: states.__setitem__(i, state),
    )  # fmt: skip
    _sync(args.device)
    return time.perf_counter() - t0, states


def _syncs_per_epoch(args: argparse.Namespace, folder: Path) -> dict[str, int]:
    """Synchronising CUDA calls per epoch of each trainer (``torch.cuda`` sync debug mode):
    the count of a 2-epoch run less that of a 1-epoch run, so the set-up (copying the initial
    weights to the device) is not counted; the models are dropped."""
    factory, x, y, membership, dev = _setup(args, folder)
    counts: dict[str, int] = {}
    runs = [(f"concurrent{e}", train_concurrent, list(range(args.n_models)), e) for e in (1, 2)]
    runs += [(f"sequential{e}", train_sequential, [0], e) for e in (1, 2)]
    for name, trainer, models, epochs in runs:
        config = TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        _sync(args.device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if dev.type == "cuda":  # elsewhere nothing is counted (0)
                torch.cuda.set_sync_debug_mode("warn")
            try:
                trainer(factory, x, y, membership, config, models=models, device=dev,
                        on_trained=lambda i, state: None)  # fmt: skip
            finally:
                if dev.type == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
        counts[name] = sum("synchroniz" in str(w.message) for w in caught)
    return {
        "concurrent": counts["concurrent2"] - counts["concurrent1"],
        "sequential_one_model": counts["sequential2"] - counts["sequential1"],
    }


def _gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between two state dicts' float tensors."""
    return max(
        float((a[k].double().cpu() - b[k].double().cpu()).abs().max())
        for k in a
        if a[k].is_floating_point()
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--model", default="cnn")
    p.add_argument("--n-models", type=int, default=64)
    p.add_argument("--pool-size", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--max-concurrent", type=int, default=64)
    p.add_argument("--seq-models", type=int, help="at most this many sequential models (all)")
    p.add_argument(
        "--seq-budget-s",
        type=float,
        default=150.0,
        help="stop the sequential training after the model that passes this many seconds "
        "(150); the speed-up is then extrapolated from the models trained",
    )
    p.add_argument("--n-bootstrap", type=int, default=200)
    p.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--work", help="folder for the experiments (default: a temporary one)")
    p.add_argument("--out-json", help="write the results here")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--unfold-epochs",
        type=int,
        default=5,
        help="time the concurrent trainer with unfolded convolutions (cnn) on this many "
        "epochs, scaled to --epochs (5; 0: skip)",
    )
    p.add_argument(
        "--cudnn-benchmark",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch.backends.cudnn.benchmark for both trainers (default on)",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(args.work or tempfile.mkdtemp(prefix="miakit-shadow-bench-"))
    kwargs = _train_kwargs(args)
    n, k_max = args.n_models, min(args.seq_models or args.n_models, args.n_models)

    if args.device.startswith("cuda"):
        # autotuned cuDNN kernels for both trainers (each shape is tuned once, in the warm-up)
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    # warm-up of both trainers (not timed): all models, one epoch of the same batch shapes
    per_model = args.pool_size // 2
    rest = per_model % args.batch_size
    warm_pool = 2 * min(per_model, args.batch_size + rest)
    warm = {**kwargs, "epochs": 1, "pool_size": warm_pool}
    for concurrent in (True, False):
        train(args.data, out=work / f"warm-{concurrent}", concurrent=concurrent, **warm)
    _sync(args.device)

    t_start = time.perf_counter()
    conc = train(args.data, out=work / "concurrent", concurrent=True, **kwargs)
    _sync(args.device)
    t_trained = time.perf_counter()
    names = default_registry().names()
    jobs = [(str(conc.folder), a, None, args.n_bootstrap, args.seed) for a in names]
    jobs += [
        (str(conc.folder), a, k, args.n_bootstrap, args.seed)
        for a in FEW_REFERENCE_ATTACKS
        for k in FEW_REFERENCES
    ]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_evaluate, jobs))
    else:
        results = [_evaluate(j) for j in jobs]
    t_end = time.perf_counter()
    attacks = {name: m for name, m, _ in results if "skipped" not in m}
    skipped = {name: m["skipped"] for name, m, _ in results if "skipped" in m}

    partial = {"attacks": attacks, "timings_s": {"concurrent_train": conc.timings["train"]}}
    if args.out_json:  # kept if the sequential part below is cut short
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(json.dumps(partial, indent=2) + "\n")

    unfolded: dict[str, Any] = {}
    if args.model == "cnn" and args.unfold_epochs > 0:  # concurrent again, unfolded convs
        _concurrent_unfolded(args, conc.folder, 1)  # warm-up
        unf_epochs = min(args.unfold_epochs, args.epochs)
        t_unf, _ = _concurrent_unfolded(args, conc.folder, unf_epochs)
        unfolded = {  # every epoch costs the same: scaled to the run's epochs
            "concurrent_train_s": t_unf / unf_epochs * args.epochs,
            "timed_epochs": unf_epochs,
            "extrapolated": unf_epochs < args.epochs,
        }

    syncs = _syncs_per_epoch(args, conc.folder)

    # the same models, trained one after another, until all are done or the budget is spent
    t_seq, states = _sequential(args, conc.folder, k_max)
    k_seq = len(states)
    weight_gap = max(
        _gap(load_file(str(store.model_path(conc.folder, m))), state) for m, state in states.items()
    )
    # the noise floor: model 0 once more, and from an initialisation scaled by 1 + 1e-7
    _, again = _sequential(args, conc.folder, 1)
    _, nudged = _sequential(args, conc.folder, 1, init_scale=1.0 + 1e-7)

    t_conc = conc.timings["train"]
    seq_all = t_seq / k_seq * n
    tpr = {a: m["tpr_at_fpr"]["0.001"] for a, m in attacks.items()}
    sig = conc.signals()
    correct = sig.correct[:, :, 0]
    summary = {
        "machine": _machine(args.device),
        "settings": {
            **kwargs,
            "data": args.data,
            "n_bootstrap": args.n_bootstrap,
            "bootstrap_unit": "two-way",
            "cudnn_benchmark": args.cudnn_benchmark,
            "unfold_epochs": args.unfold_epochs,
            "seq_budget_s": args.seq_budget_s,
        },
        "models": {
            "train_accuracy": float(correct[sig.membership].mean()),
            "test_accuracy": float(correct[~sig.membership].mean()),
        },
        "timings_s": {
            "concurrent_train": t_conc,
            "signals": conc.timings["signals"],
            "attacks": t_end - t_trained,
            "experiment_total": t_end - t_start,
            "sequential_train": t_seq,
            "sequential_models": k_seq,
            "per_attack": {name: s for name, _, s in results},
        },
        "speedup": {
            "concurrent_vs_sequential": seq_all / t_conc,
            "measured_on_models": k_seq,
            "extrapolated": k_seq < n,
        },
        "host_syncs_per_epoch": syncs,
        "concurrent_unfolded_convs": {
            **unfolded,
            **(
                {"speedup_vs_sequential": seq_all / unfolded["concurrent_train_s"]}
                if unfolded
                else {}
            ),
        },
        "agreement": {
            "max_abs_weight_diff": weight_gap,
            "models_compared": k_seq,
            "model0_sequential_twice": _gap(states[0], again[0]),
            "model0_init_scaled_1e-7": _gap(states[0], nudged[0]),
        },
        "lira_online_over_loss_tpr_at_0.001": (
            tpr["lira_online"] / tpr["loss"] if tpr.get("loss") and "lira_online" in tpr else None
        ),
        "references": _references(attacks, n // 2 - 1),
        "attacks": attacks,
        "skipped_attacks": skipped,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "attacks"}, indent=2))
    print(f"{'attack':28s} {'AUROC [95% CI]':>24s} {'TPR@0.1% [CI]':>24s} {'TPR@1% [CI]':>24s}")
    for name, m in sorted(attacks.items(), key=lambda kv: -kv[1]["auroc"]):
        ci = m["tpr_at_fpr_ci"]
        print(
            f"{name:28s} {m['auroc']:.3f} [{m['auroc_ci'][0]:.3f}, {m['auroc_ci'][1]:.3f}]"
            f"   {m['tpr_at_fpr']['0.001']:.4f} [{ci['0.001'][0]:.4f}, {ci['0.001'][1]:.4f}]"
            f"   {m['tpr_at_fpr']['0.01']:.4f} [{ci['0.01'][0]:.4f}, {ci['0.01'][1]:.4f}]"
        )
    if args.out_json:
        Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out_json).write_text(json.dumps(summary, indent=2) + "\n")
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
