"""One exception hierarchy for miakit: the public home of :mod:`miakit._core.errors`.

Every error a user can cause derives from :class:`MiakitError`; the CLI turns these into a
message and exit code 2, with no traceback. The classes live in :mod:`miakit._core` so that
the dependency-free core (the generic registry) can raise them; import them from here.
"""

from __future__ import annotations

from miakit._core.errors import (
    BackendCapabilityError,
    DataError,
    InvalidParameterError,
    MiakitError,
    MissingSignalError,
    ModelLoadError,
    OverlapError,
    UnsafeModelError,
    did_you_mean,
)

__all__ = [
    "BackendCapabilityError",
    "DataError",
    "InvalidParameterError",
    "MiakitError",
    "MissingSignalError",
    "ModelLoadError",
    "OverlapError",
    "UnsafeModelError",
    "did_you_mean",
]
