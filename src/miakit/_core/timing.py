"""Wall time per stage of a run: ``metrics.json``'s ``setup.timings`` and ``miakit run --timings``.

A :class:`Timings` records monotonic wall seconds per stage name (``validation``,
``load:target``, ``signals:target/plain``, ...). Stages nest: each records its *own* time,
the time of the stages opened inside it is counted there only, so the stages of one thread never
add up to more than the ``total``. A stage entered twice adds up.

Threads: a :class:`Timings` may be written from several threads at once. Each thread nests its
own stages; a stage timed on another thread (the run's background integrity checks,
``blind_baselines`` and ``overlap``) runs *beside* the main thread's stages, so it is not taken
off the stage that was open on the main thread meanwhile, and the stages then add up to more
than the ``total``. The time the main thread waited for that work is its own stage
(``integrity_wait``). A new thread sees the active run only when it runs in a copy of the
opening thread's context (:func:`contextvars.copy_context`).

The run makes its :class:`Timings` the active one (:meth:`Timings.active`); code deeper in the
pipeline opens a stage with the module-level :func:`stage`, which records nothing when no
run is active. Nothing here imports more than the standard library: ``import miakit`` notes
when it was imported (:data:`IMPORTED_AT`), so the command line can count its start-up.
"""

from __future__ import annotations

import contextvars
import threading
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
    #: thread id -> the seconds of the stages inside each stage open on that thread
    _inner: dict[int, list[float]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more under ``name`` (from any thread)."""
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (less the stages this thread opened inside it)."""
        with self._lock:
            inner = self._inner.setdefault(threading.get_ident(), [])
        start = time.perf_counter()
        inner.append(0.0)  # this thread's stack: no other thread touches it
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            own = elapsed - inner.pop()
            if inner:
                inner[-1] += elapsed
            self.add(name, own)

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
        with self._lock:
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


#: A stage of the main thread that waited for work on a background thread -> the stages of
#: that work (timed on the background thread, beside the main thread's stages).
BACKGROUND: dict[str, tuple[str, ...]] = {"integrity_wait": ("blind_baselines", "overlap")}


def table(timings: dict[str, float]) -> str:
    """``setup.timings`` as a plain-text table: stage, seconds, share of the total.

    Stages that ran on a background thread (those of :data:`BACKGROUND`, when its wait stage is
    present) are marked ``*`` and explained below the table."""
    total = timings.get("total", 0.0)
    background = {s for wait, stages in BACKGROUND.items() if wait in timings for s in stages}
    rows = [(k + "*" if k in background else k, v) for k, v in timings.items() if k != "total"]
    width = max([len(k) for k, _ in rows] + [len("total"), len("stage")])
    lines = [f"{'stage':<{width}}  {'seconds':>8}  {'share':>6}"]
    for name, seconds in rows:
        share = f"{seconds / total:6.1%}" if total > 0 else "     -"
        lines.append(f"{name:<{width}}  {seconds:8.3f}  {share}")
    lines.append(f"{'total':<{width}}  {total:8.3f}")
    for wait, stages in BACKGROUND.items():
        if wait in timings and any(s in timings for s in stages):
            lines.append(
                f"* ran on a background thread while the other stages ran; {wait}: how long "
                "the run still waited for it"
            )
    return "\n".join(lines)
