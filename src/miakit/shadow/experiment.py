"""One shadow experiment: :func:`train` a folder of models and signals (attack it with
:func:`miakit.shadow.attack_run.attack`).

``train`` picks the pool (a seeded random subset of the data, of even size), draws the
balanced membership matrix, trains every model that the folder lacks (concurrently with
``torch.func`` or one by one), saves each as safetensors, and computes the signals of every
model on the pool in eval mode. A rerun with the same settings trains only missing models;
other settings in the same folder are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from miakit._core.progress import ProgressEvent
from miakit.errors import InvalidParameterError
from miakit.shadow import sklearn_models, store
from miakit.shadow.concurrent import train_concurrent
from miakit.shadow.data import ClassifierData, load_data
from miakit.shadow.distributed import Workers, process_group
from miakit.shadow.membership import balanced_membership
from miakit.shadow.models import ModelFactory, model_factory
from miakit.shadow.queries import Query, parse_queries
from miakit.shadow.signals import ShadowSignals, compute_signals
from miakit.shadow.sklearn_models import SklearnModel, as_sklearn
from miakit.shadow.train import TrainConfig, init_model, train_sequential

Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class Experiment:
    """A trained experiment folder.

    Attributes:
        folder: the folder (manifest, membership, models, signals).
        manifest: the settings it was made with.
        trained: the models trained by this call (the others were already there); with
            several workers: by all of them on rank 0, by this worker on the others.
        trainer: ``"concurrent"``, ``"sequential"`` or ``"sklearn"``, the trainer used.
        timings: wall seconds: ``train`` (this call's models; with several workers, on rank 0:
            until the slowest worker is done), ``signals`` (0 on the other ranks).
    """

    folder: Path
    manifest: dict[str, Any]
    trained: tuple[int, ...]
    trainer: str
    timings: dict[str, float]

    def signals(self) -> ShadowSignals:
        return ShadowSignals.load(self.folder / store.SIGNALS)


def _pool(n: int, pool_size: int | None, seed: int) -> np.ndarray:
    size = n - n % 2 if pool_size is None else int(pool_size)
    if size < 2 or size % 2 or size > n:
        raise InvalidParameterError(
            f"pool_size must be even, >= 2 and at most the {n} examples of the data, got {size}"
        )
    return np.sort(np.random.default_rng([seed, 7]).permutation(n)[:size])


def _tell(progress: Progress | None, stage: str, done: int, total: int, msg: str = "") -> None:
    if progress is not None:
        progress(ProgressEvent(stage, done, total, msg))


def train(
    data: str | Path | ClassifierData = "digits",
    *,
    out: str | Path,
    model: str | ModelFactory | SklearnModel | None = None,
    n_models: int = 16,
    pool_size: int | None = None,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    seed: int = 0,
    queries: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    concurrent: bool | None = None,
    max_concurrent: int = 64,
    workers: Workers | None = None,
    progress: Progress | None = None,
) -> Experiment:
    """Train ``n_models`` shadow models on random halves of a pool and compute their signals.

    Args:
        data: a built-in name (``digits``, ``breast-cancer``, ``mnist``, ``fashion-mnist``),
            a ``.npz`` path, or a :class:`~miakit.shadow.data.ClassifierData`.
        out: the experiment folder (created; resumed when it holds the same settings; other
            queries than before only recompute the signals).
        model: ``"mlp"``, ``"cnn"``, a zero-argument ``nn.Module`` factory, or ``None`` (CNN
            for images, MLP otherwise); or a scikit-learn model: ``"logreg"``, an estimator
            with ``predict_proba`` (cloned per model), or a
            :class:`~miakit.shadow.sklearn_models.SklearnModel` (trained one after another;
            the torch training settings are then unused).
        n_models: models (even: every example is IN for exactly half).
        pool_size: examples in the pool (even; default: all, less one when odd).
        epochs, batch_size, lr, optimizer, weight_decay, seed: see
            :class:`~miakit.shadow.train.TrainConfig`; ``seed`` also draws the pool and the
            membership.
        queries: query names (:mod:`miakit.shadow.queries`); default: the identity plus a
            flip and four one-pixel shifts for images, the identity alone otherwise.
        device: where models train and run (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        concurrent: train with ``torch.func`` (vmap over stacked models) instead of one by
            one; ``None`` (default): concurrently on an accelerator, one by one on the CPU,
            where the vmapped CNN measured 2x slower than sequential training (see
            ``docs/classifier-mia.md``). Both train the same models, up to floating-point
            round-off (which grows over long training).
        max_concurrent: models per concurrent group (bounds device memory).
        workers: this process's rank among torchrun workers (``Workers.from_env()``), each
            training its share of the models (:mod:`miakit.shadow.distributed`); rank 0
            writes the folder's metadata and the signals. Default: one process.
        progress: receives a :class:`~miakit.ProgressEvent` per model (stages ``"train"``,
            ``"signals"``).

    Raises:
        InvalidParameterError: bad settings, ``out`` holds another experiment, or a
            scikit-learn model with several workers (it trains in one process).
        DataError, MissingAssetError: the data cannot be loaded.
    """
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        seed=seed,
    )
    if max_concurrent < 1:
        raise InvalidParameterError(f"max_concurrent must be >= 1, got {max_concurrent}")
    workers = Workers() if workers is None else workers
    ds = load_data(data)
    sk = as_sklearn(model)
    if sk is not None and workers.world > 1:
        raise InvalidParameterError(
            f"scikit-learn models ({sk.name}) train in one process: run without torchrun"
        )
    if sk is None:
        name, factory = model_factory(model, ds.input_shape, ds.n_classes)  # type: ignore[arg-type]
        n_params: int | None = _n_parameters(factory, seed)
    else:
        name, n_params = sk.name, None
    parsed = parse_queries(queries, input_shape=ds.input_shape)
    pool = _pool(ds.n_samples, pool_size, seed)
    membership = balanced_membership(len(pool), n_models, seed=seed)
    folder = Path(out)
    manifest = {
        "format": "miakit-shadow/1",
        "data": ds.name,
        "data_fingerprint": store.data_fingerprint(ds.x, ds.y),
        "n_classes": ds.n_classes,
        "input_shape": list(ds.input_shape),
        "model": name,
        # the architecture's size: a folder made by a CNN of another shape is refused
        "model_parameters": n_params,
        "n_models": n_models,
        "pool_size": len(pool),
        "n_unused": int(ds.n_samples - len(pool)),
        "train": config.as_dict(),
        "queries": [q.name for q in parsed],
    }
    with process_group(workers):
        if workers.rank == 0:
            _write_metadata(folder, manifest, membership, pool)
        dev = workers.device(device)
        if dev.type == "cuda" and workers.world > 1:
            torch.cuda.set_device(dev)  # else every worker makes a CUDA context on cuda:0
        x = torch.as_tensor(ds.x[pool], device=dev)
        y = torch.as_tensor(ds.y[pool], device=dev)
        if sk is not None:
            return _train_sklearn(sk, folder, manifest, x, y, membership, parsed, progress)
        # listed before the barrier: no worker has written a model of this run yet
        missing = [m for m in range(n_models) if not store.model_path(folder, m).is_file()]
        workers.barrier()  # the manifest and membership are written
        mine, t0 = workers.share(missing), time.perf_counter()
        exp = _train_torch(
            factory, folder, manifest, x, y, membership, parsed, config, mine, workers.world,
            concurrent, max_concurrent, progress,
        )  # fmt: skip
        workers.barrier()  # every worker's models are written
        if workers.rank != 0:
            return exp
        # rank 0 reports the run: every model trained, the wall time until the last is saved
        exp = replace(exp, trained=tuple(missing), timings={"train": time.perf_counter() - t0})
        return _signals(exp, factory, x, y, membership, parsed, progress, bool(missing))


def _write_metadata(
    folder: Path, manifest: dict[str, Any], membership: np.ndarray, pool: np.ndarray
) -> None:
    store.check_resumable(folder, manifest, ignore=("queries",))
    if (folder / store.MEMBERSHIP).is_file() and not np.array_equal(
        store.load_array(folder, store.MEMBERSHIP), membership
    ):
        raise InvalidParameterError(
            f"{folder}: its membership matrix differs from the one these settings draw (made "
            "by another miakit version?); choose another folder"
        )
    store.write_manifest(folder, manifest)
    store.save_array(folder, store.MEMBERSHIP, membership)
    store.save_array(folder, store.POOL, pool.astype(np.int64))


def _train_torch(
    factory: ModelFactory,
    folder: Path,
    manifest: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    parsed: tuple[Query, ...],
    config: TrainConfig,
    missing: list[int],
    world: int,
    concurrent: bool | None,
    max_concurrent: int,
    progress: Progress | None,
) -> Experiment:
    """Train ``missing`` (this worker's share) and save each; the signals are not computed.
    Progress counts all models with one worker, this worker's share with several."""
    n_models, dev = membership.shape[1], x.device
    total = n_models if world == 1 else len(missing)
    done = [total - len(missing)]

    def on_trained(m: int, state: dict[str, torch.Tensor]) -> None:
        store.save_model(store.model_path(folder, m), state)
        done[0] += 1
        _tell(progress, "train", done[0], total, f"model {m} trained")

    t0 = time.perf_counter()
    _tell(progress, "train", done[0], total)
    use_vmap = dev.type != "cpu" if concurrent is None else concurrent
    if missing:
        kwargs: dict[str, Any] = {"models": missing, "on_trained": on_trained, "device": dev}
        if use_vmap:
            train_concurrent(
                factory, x, y, membership, config, max_concurrent=max_concurrent, **kwargs
            )
        else:
            train_sequential(factory, x, y, membership, config, **kwargs)
    return Experiment(
        folder=folder,
        manifest=manifest,
        trained=tuple(missing),
        trainer="concurrent" if use_vmap else "sequential",
        timings={"train": time.perf_counter() - t0, "signals": 0.0},
    )


def _signals(
    exp: Experiment,
    factory: ModelFactory,
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    parsed: tuple[Query, ...],
    progress: Progress | None,
    any_trained: bool,
) -> Experiment:
    """``exp`` with the signals of all models computed, unless they are stored for these
    queries and no model was trained (by any worker)."""
    t0 = time.perf_counter()
    n_models, folder = membership.shape[1], exp.folder
    signals_path = folder / store.SIGNALS
    if any_trained or store.stored_queries(signals_path) != exp.manifest["queries"]:
        nets = (_load(factory, folder, m, x.device) for m in range(n_models))
        signals = compute_signals(
            nets,
            x,
            y,
            membership,
            parsed,
            on_model=lambda m: _tell(progress, "signals", m + 1, n_models),
        )
        signals.save(signals_path)
    timings = {**exp.timings, "signals": time.perf_counter() - t0}
    return replace(exp, timings=timings)


def _train_sklearn(
    sk: SklearnModel,
    folder: Path,
    manifest: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    membership: np.ndarray,
    queries: tuple[Query, ...],
    progress: Progress | None,
) -> Experiment:
    """:func:`train` for a scikit-learn model: fit the models without stored outputs on
    these queries (:mod:`miakit.shadow.sklearn_models`), then assemble the signals."""
    n_models, names = membership.shape[1], [q.name for q in queries]
    paths = [sklearn_models.logprob_path(folder, m) for m in range(n_models)]
    missing = [m for m in range(n_models) if sklearn_models.stored_queries(paths[m]) != names]
    done = [n_models - len(missing)]

    def on_trained(m: int) -> None:
        done[0] += 1
        _tell(progress, "train", done[0], n_models, f"model {m} trained")

    t0 = time.perf_counter()
    _tell(progress, "train", done[0], n_models)
    sklearn_models.fit_models(
        sk, x, y, membership, queries, folder=folder, models=missing,
        seed=manifest["train"]["seed"], n_classes=manifest["n_classes"], on_trained=on_trained,
    )  # fmt: skip
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    signals = sklearn_models.load_signals(folder, n_models, y, membership, names)
    signals.save(folder / store.SIGNALS)
    return Experiment(
        folder=folder,
        manifest=manifest,
        trained=tuple(missing),
        trainer="sklearn",
        timings={"train": t_train, "signals": time.perf_counter() - t0},
    )


def _n_parameters(factory: ModelFactory, seed: int) -> int:
    return sum(p.numel() for p in init_model(factory, 0, seed).parameters())


def _load(factory: ModelFactory, folder: Path, m: int, device: torch.device) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation draws from it
        net = factory()
    net.load_state_dict(store.load_model_state(store.model_path(folder, m)))
    return net.to(device)


__all__ = ["Experiment", "train"]
