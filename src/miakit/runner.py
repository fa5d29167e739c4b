"""The old import path of :func:`miakit.run`: a re-export of :mod:`miakit.pipeline.runner`.

``from miakit.runner import run, RunResult`` keeps working; new code imports
:mod:`miakit.pipeline` (or uses :func:`miakit.run`).
"""

from miakit.pipeline.runner import ProgressEvent, RunResult, WriteFailedError, run

__all__ = ["ProgressEvent", "RunResult", "WriteFailedError", "run"]
