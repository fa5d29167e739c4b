"""The terminal output of ``miakit run`` (and ``miakit demo``): the library returns, this prints.

:func:`miakit.run` prints nothing and returns a :class:`~miakit.pipeline.RunResult` that holds
what a terminal shows. Here that result is printed: the leaderboard on stdout, then each
warning on stderr (the blind baselines' shift warning and "scored nothing" in a box, the
others on one ``warning:`` line), the skipped attacks on stderr, and the output folder on
stdout; with ``--timings``, the wall time per stage on stderr. While the run goes, progress
bars and each shard's line go to stderr.
"""

from __future__ import annotations

import sys
from typing import Any

from miakit._core.progress import ProgressCallback, print_messages
from miakit._core.timing import table
from miakit.blind import boxed
from miakit.config import RunConfig
from miakit.pipeline import RunResult, WriteFailedError, run


def print_summary(result: RunResult) -> None:
    """Print what a run found, as ``miakit run`` always has (nothing for a non-zero rank)."""
    if result.worker_done:
        return
    print(result.leaderboard())
    for warning in result.warnings:
        if warning in result.boxed_warnings:
            print(boxed(warning), file=sys.stderr)
        else:
            print(f"warning: {warning}", file=sys.stderr)
    skipped = result.skipped
    if skipped:
        print(
            "skipped: " + "; ".join(f"{k} ({v})" for k, v in sorted(skipped.items())),
            file=sys.stderr,
        )
    if result.out_dir is not None:
        print(f"outputs written to {result.out_dir}")


def print_timings(result: RunResult) -> None:
    """``--timings``: the run's ``setup.timings`` as a table on stderr."""
    timings = result.metrics.get("setup", {}).get("timings")
    if timings:
        print("timings (wall seconds per stage):", file=sys.stderr)
        print(table(timings), file=sys.stderr)


def terminal_progress(bars: bool) -> bool | ProgressCallback:
    """The ``progress=`` of the command line: bars and messages, or (``--no-progress``) the
    messages only (each shard's ``[rank r/w] ...`` line)."""
    return True if bars else print_messages


def run_and_print(
    config: RunConfig | None = None, /, *, progress: bool | None = None, **kwargs: Any
) -> RunResult:
    """:func:`miakit.run` with the command line's terminal output.

    Args:
        config: the run's settings.
        progress: show progress bars; ``None``: as the config's ``progress`` key (default on).
            Each shard's line is printed either way.
        **kwargs: more arguments of :func:`miakit.run` (``scorers=``, config keys, ...).

    Returns:
        The run's :class:`~miakit.pipeline.RunResult`, after its summary is printed.

    Raises:
        WriteFailedError: after printing the leaderboard, when the outputs could not be
            written (the command line then prints the error).
    """
    if progress is None:
        progress = config.progress if config is not None else True
    try:
        result = run(config, progress=terminal_progress(progress), **kwargs)
    except WriteFailedError as exc:  # what was computed is shown before the error
        print(exc.result.leaderboard())
        raise
    print_summary(result)
    if config.timings if config is not None else kwargs.get("timings", False):
        print_timings(result)
    return result
