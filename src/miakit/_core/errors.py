"""One exception hierarchy for miakit (public as :mod:`miakit.errors`).

Every error a user can cause derives from :class:`MiakitError`; the CLI turns these into a
message and exit code 2, with no traceback. Messages say what was expected, what arrived and
how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MiakitError(Exception):
    """Base class of every error that a user's input or configuration can cause."""


class InvalidParameterError(MiakitError, ValueError):
    """A parameter, option or configuration key has an invalid value or name."""


class DataError(MiakitError, ValueError):
    """Input data is malformed: missing columns, empty texts, bad labels, invalid UTF-8, ..."""


class OverlapError(DataError):
    """The same text is present among both members and non-members."""


class MissingSignalError(MiakitError, KeyError):
    """An attack asked for a signal that it did not declare or that was not computed."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class BackendCapabilityError(MiakitError):
    """A backend lacks a capability that a requested attack needs."""


class UnsafeModelError(MiakitError):
    """Loading the model would execute untrusted code (pickle or remote code) without opt-in."""


class ModelLoadError(MiakitError):
    """A model or tokenizer could not be found or loaded from local files."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" suffix for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
