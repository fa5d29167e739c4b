"""Shadow training spread over ``torchrun`` workers: each rank trains its own share of models.

Under ``torchrun --nproc_per_node K -m miakit shadow train ...`` every worker reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` (:meth:`Workers.from_env`) and trains the models of its share
(:meth:`Workers.share`: every ``K``-th missing model, from its rank on) on its own device
(``cuda`` becomes ``cuda:LOCAL_RANK``; ``cpu`` stays). Each model's initialisation and batches
depend only on its index and the seed (:mod:`miakit.shadow.train`), so which worker trains a
model does not change it.

Two barriers order the folder: rank 0 alone checks and writes the manifest and the membership
matrix, then every worker passes the first barrier; the workers list the missing models before
it (no model of this run is written yet, so all see the same list) and each writes only its
own models; after the second barrier (every model written) rank 0 computes the signals of all
models, and the other workers return.

The process group carries only these barriers, no tensor, so it is gloo on CPU and CUDA
workers alike (no NCCL communicator is built). Its timeout is long (:data:`BARRIER_TIMEOUT`):
a worker that finishes its share waits there for the slowest. A worker that fails makes
torchrun stop the others; the rerun resumes from the models already written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from miakit.errors import InvalidParameterError

#: How long a barrier waits for the slowest worker's share of models.
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Workers:
    """Which worker this process is, of how many (one process by default)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world or self.local_rank < 0:
            raise InvalidParameterError(
                f"invalid worker: RANK={self.rank}, WORLD_SIZE={self.world}, "
                f"LOCAL_RANK={self.local_rank} (need 0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Workers:
        """From ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by torchrun); defaults 0/1/RANK.

        Raises:
            InvalidParameterError: values that are not integers or not a valid worker, or
                several workers without torchrun's rendezvous (``MASTER_ADDR``/``MASTER_PORT``).
        """
        env = os.environ if environ is None else environ
        try:
            rank = int(env.get("RANK", "0"))
            world = int(env.get("WORLD_SIZE", "1"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise InvalidParameterError(
                f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {exc}"
            ) from exc
        workers = cls(rank=rank, world=world, local_rank=local)
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if world > 1 and missing:
            raise InvalidParameterError(
                f"WORLD_SIZE={world} but {' and '.join(missing)} unset: launch the workers with "
                "`torchrun --nproc_per_node K -m miakit shadow train ...`"
            )
        return workers

    def share(self, models: Sequence[int]) -> list[int]:
        """This worker's models of ``models``: every ``world``-th one from position ``rank``
        (the shares of all workers are disjoint and cover ``models``)."""
        return list(models)[self.rank :: self.world]

    def device(self, device: str | torch.device) -> torch.device:
        """``cuda`` (no index) becomes ``cuda:LOCAL_RANK`` (modulo the visible GPUs) when there
        are several workers; any other device is kept."""
        dev = torch.device(device)
        if self.world > 1 and dev.type == "cuda" and dev.index is None:
            return torch.device("cuda", self.local_rank % max(torch.cuda.device_count(), 1))
        return dev

    def barrier(self) -> None:
        """Wait for every worker (nothing to wait for with one)."""
        if self.world > 1:
            dist.barrier()


@contextmanager
def process_group(workers: Workers) -> Iterator[None]:
    """The gloo process group of ``workers`` for the duration (destroyed after, also on an
    error); nothing with one worker, or when the caller already made a group."""
    if workers.world == 1 or dist.is_initialized():
        yield
        return
    dist.init_process_group(
        "gloo", rank=workers.rank, world_size=workers.world, timeout=BARRIER_TIMEOUT
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


__all__ = ["BARRIER_TIMEOUT", "Workers", "process_group"]
