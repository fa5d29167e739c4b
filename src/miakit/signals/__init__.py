"""The signal engine: per-token statistics computed once per (model, context, text)."""

from miakit.signals.spec import (
    BUILTIN_CONTEXTS,
    LOWERCASE,
    PAIRED_STATS,
    PLAIN,
    TEXT,
    TOKEN_STATS,
    Context,
    SignalRef,
)
from miakit.signals.table import TokenSignals

__all__ = [
    "BUILTIN_CONTEXTS",
    "LOWERCASE",
    "PAIRED_STATS",
    "PLAIN",
    "TEXT",
    "TOKEN_STATS",
    "Context",
    "SignalRef",
    "TokenSignals",
]
