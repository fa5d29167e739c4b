""":func:`~miakit.blind.evaluation_integrity` on a background thread, while the models score.

The blind baselines and the overlap checks depend only on the samples, never on a model, so a
run can start them as soon as its samples are validated and collect them before it writes
``metrics.json`` (:func:`start_evaluation_integrity`). The results are those of a call in the
foreground: the work is the same function with the same arguments and seeds, and it shares no
state with the scoring.

The worker sends no progress events and prints nothing: the run reports the ``integrity``
stage from its own thread when it waits for the result, so a progress display is only ever
drawn from one thread. It runs in a copy of the caller's :mod:`contextvars` context, so its
stages (``blind_baselines``, ``overlap``) are timed into the run's
:class:`~miakit._core.timing.Timings`.

A thread, not a process: the checks spend nearly all their time in numpy, scipy and BLAS calls,
which release the GIL (character and word n-grams are hashed with numpy and the overlap
check joins hashed n-grams in numpy since issue 15; what holds the GIL at 4,000 texts is the
regexes, one C call per text: word tokens, dates, the overlap's tokens), while a spawned
process would first pay its imports (scikit-learn and scipy: about 0.9 s) and could not time
its stages into the run's timings. Their fold jobs run on daemon threads too
(:mod:`miakit.blind._pool`).
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import Future
from typing import Any

from miakit.blind._integrity import Integrity, evaluation_integrity
from miakit.data.schema import SampleSet


class IntegrityJob:
    """:func:`~miakit.blind.evaluation_integrity` running on a daemon thread.

    A daemon thread, so that a run that fails meanwhile (a model that does not load) exits at
    once instead of waiting for checks nobody will read; :meth:`result` collects the outcome.
    """

    def __init__(self, samples: SampleSet, options: dict[str, Any]) -> None:
        self._future: Future[Integrity] = Future()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._work, samples, options),
            name="miakit-integrity",
            daemon=True,
        )
        self._thread.start()

    def _work(self, samples: SampleSet, options: dict[str, Any]) -> None:
        try:
            result = evaluation_integrity(samples, **options)
        except BaseException as exc:  # handed to the caller of result(), with its type
            self._future.set_exception(exc)
        else:
            self._future.set_result(result)

    def done(self) -> bool:
        """Whether the worker has finished (successfully or not)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> Integrity:
        """Wait for the checks and return them.

        Raises:
            Exception: whatever :func:`~miakit.blind.evaluation_integrity` raised, the same
                object (type, message and the worker's traceback).
            TimeoutError: ``timeout`` seconds passed first.
        """
        return self._future.result(timeout)


def start_evaluation_integrity(samples: SampleSet, **options: Any) -> IntegrityJob:
    """Start :func:`~miakit.blind.evaluation_integrity` ``(samples, **options)`` on a
    background thread and return at once; :meth:`IntegrityJob.result` collects it.

    The options are checked by the worker, as the foreground call checks them; check them
    first (:func:`~miakit.blind.check_options`) to fail before the thread starts.
    """
    return IntegrityJob(samples, options)


#: Device types on which :func:`in_background` starts the checks beside the scoring.
BACKGROUND_DEVICES = frozenset({"cuda"})


def in_background(device_type: str) -> bool:
    """Whether a run whose target model runs on ``device_type`` (``"cuda"``, ``"cpu"``,
    ``"mps"``...) starts the checks on a background thread.

    On a GPU the scoring leaves the CPU mostly idle, and the checks fill it. On the CPU both
    compete for the same cores (the forward pass uses all of them); measured on 2 cores, see
    ``benchmarks/README.md`` (issue 15).
    """
    return device_type in BACKGROUND_DEVICES
