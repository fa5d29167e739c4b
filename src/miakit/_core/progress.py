"""A run's progress as events, so that the library draws nothing unless it is asked to.

:func:`miakit.run` takes ``progress=``:

- ``False`` (the default): nothing is shown or sent.
- ``True``: the terminal progress of the command line. That means tqdm bars on stderr (from
  the signal engine and the model loaders) and each event's :attr:`~ProgressEvent.message`
  (e.g. ``"[rank 0/2] shard 3: written"``) as a line on stderr.
- a callable ``(ProgressEvent) -> None``: it receives every event and nothing is drawn.

The signal engine's inner loop still takes a plain ``progress: bool`` (its tqdm bar). That bar
is on exactly when ``progress=True``. When the engine learns to send events, a callback will
get its steps too, as stage ``"signals"``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a run.

    Attributes:
        stage: what is running: ``"signals"`` (texts scored by the models), ``"shards"``
            (resumable shards of a sharded run), ``"attacks"``, ``"metrics"``, ``"integrity"``
            (blind baselines and overlap checks), ``"outputs"`` (files written).
        done: steps of ``stage`` finished so far (``0``: the stage starts).
        total: steps in ``stage``, or ``None`` when that is not known.
        message: a line meant for a terminal, or ``""``.
    """

    stage: str
    done: int
    total: int | None
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def print_messages(event: ProgressEvent) -> None:
    """Write an event's message, if it has one, as a line on stderr (the terminal's callback)."""
    if event.message:
        print(event.message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Progress:
    """What a ``progress=`` argument resolves to: tqdm bars on or off, and where events go."""

    bars: bool = False
    callback: ProgressCallback | None = None

    @classmethod
    def of(cls, progress: bool | ProgressCallback | None) -> Progress:
        """Resolve ``progress=``: ``True``, ``False``/``None`` or a callback.

        Raises:
            TypeError: for anything else (a programming error, as for any wrongly typed
                argument; the command line never passes one).
        """
        if progress is None or progress is False:
            return cls()
        if progress is True:
            return cls(bars=True, callback=print_messages)
        if callable(progress):
            return cls(callback=progress)
        raise TypeError(
            f"progress must be True, False or a callable taking a ProgressEvent, got {progress!r}"
        )

    def __call__(self, stage: str, done: int, total: int | None, message: str = "") -> None:
        """Send one event to the callback (nothing happens without one)."""
        if self.callback is not None:
            self.callback(ProgressEvent(stage, done, total, message))
