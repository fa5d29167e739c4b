"""Wall time per stage of a run: ``metrics.json``'s ``setup.timings`` and ``miakit run --timings``.

A :class:`Timings` records monotonic wall seconds per stage name (``validation``,
``load:target``, ``signals:target/plain``, ...). Stages nest: each records its *own* time,
the time of the stages opened inside it is counted there only, so the stages never add up to
more than the ``total``. A stage entered twice adds up.

The run makes its :class:`Timings` the active one (:meth:`Timings.active`); code deeper in the
pipeline opens a stage with the module-level :func:`stage`, which records nothing when no
run is active. Nothing here imports more than the standard library: ``import miakit`` notes
when it was imported (:data:`IMPORTED_AT`), so the command line can count its start-up.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: ``time.perf_counter()`` when this module was first imported (by ``import miakit``).
IMPORTED_AT = time.perf_counter()

_ACTIVE: contextvars.ContextVar[Timings | None] = contextvars.ContextVar(
    "miakit_timings", default=None
)


@dataclass
class Timings:
    """Stage name -> seconds of one run, from ``started`` on.

    Args:
        started: the ``time.perf_counter()`` that ``total`` counts from.
    """

    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)
    _inner: list[float] = field(default_factory=list, init=False, repr=False)

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more under ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (less the stages opened inside it)."""
        start = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            inner = self._inner.pop()
            self.add(name, elapsed - inner)
            if self._inner:
                self._inner[-1] += elapsed

    @contextmanager
    def active(self) -> Iterator[Timings]:
        """Make this the timings that :func:`stage` records into, for the block."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def as_dict(self) -> dict[str, float]:
        """Stage -> seconds rounded to the millisecond, in the order the stages began, and
        ``total``: the seconds since ``started``."""
        out = {name: round(s, 3) for name, s in self.seconds.items()}
        out["total"] = round(time.perf_counter() - self.started, 3)
        return out


_count_startup = False


def count_startup() -> None:
    """Have the next run count from :data:`IMPORTED_AT` and record that span as its
    ``startup`` stage (the command line calls this: its imports, flags and config)."""
    global _count_startup
    _count_startup = True


def for_run() -> Timings:
    """The :class:`Timings` of a run that starts now; with ``startup`` when
    :func:`count_startup` was called (once: the flag is consumed)."""
    global _count_startup
    if not _count_startup:
        return Timings()
    _count_startup = False
    timings = Timings(started=IMPORTED_AT)
    timings.add("startup", time.perf_counter() - IMPORTED_AT)
    return timings


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` of the active run's :class:`Timings` (none: nothing)."""
    timings = _ACTIVE.get()
    if timings is None:
        yield
        return
    with timings.stage(name):
        yield


def table(timings: dict[str, float]) -> str:
    """``setup.timings`` as a plain-text table: stage, seconds, share of the total."""
    total = timings.get("total", 0.0)
    rows = [(k, v) for k, v in timings.items() if k != "total"]
    width = max([len(k) for k, _ in rows] + [len("total"), len("stage")])
    lines = [f"{'stage':<{width}}  {'seconds':>8}  {'share':>6}"]
    for name, seconds in rows:
        share = f"{seconds / total:6.1%}" if total > 0 else "     -"
        lines.append(f"{name:<{width}}  {seconds:8.3f}  {share}")
    lines.append(f"{'total':<{width}}  {total:8.3f}")
    return "\n".join(lines)
