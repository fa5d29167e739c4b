"""Which run option supplies each auxiliary input an attack can require.

An attack declares signals of user-built contexts (``"recall_nonmember:token_log_prob"``) and
extras (``extras=("token_frequency",)``); :attr:`miakit.attacks.AttackSpec.inputs` lists them
as ``"context:NAME"`` / ``"extra:NAME"``. This table says which option provides each, so that a
default run skips an attack whose input is missing (with the reason) and an explicitly
requested one fails with a message naming the flag, and ``miakit list attacks`` shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunInput:
    """One auxiliary input.

    Attributes:
        flag: the command-line option that provides it; ``None`` when miakit builds it
            itself (always available).
        config_key: the :class:`~miakit.config.RunConfig` field behind the flag.
        what: a short description, for messages.
    """

    flag: str | None
    config_key: str | None
    what: str


#: ``"context:NAME"`` / ``"extra:NAME"`` -> how a run obtains it.
RUN_INPUTS: dict[str, RunInput] = {
    "context:recall_nonmember": RunInput(
        "--aux-nonmembers", "aux_nonmembers", "a ReCaLL prefix of known non-members"
    ),
    "context:recall_member": RunInput(
        "--aux-members", "aux_members", "a ReCaLL prefix of known members"
    ),
    "extra:token_frequency": RunInput(
        "--frequency-corpus", "frequency_corpus", "token frequencies of a reference corpus"
    ),
    "extra:neighbor_nll": RunInput(
        "--fill-mask-model",
        "fill_mask_model",
        "neighbour texts from a masked LM (the paper's embedding-dropout swaps)",
    ),
    "extra:neighbor_nll_causal": RunInput(
        None, None, "neighbour texts resampled from the target (a variant; built in)"
    ),
}


def flag_of(key: str) -> str:
    """The option providing input ``key`` (``"built in"`` when miakit builds it)."""
    spec = RUN_INPUTS.get(key)
    if spec is None:
        return f"<{key}: no run option provides it>"
    return spec.flag or "built in"


def required_flags(inputs: Iterable[str]) -> list[str]:
    """The options an attack with these ``inputs`` needs (built-in inputs left out)."""
    return [flag_of(k) for k in inputs if k not in RUN_INPUTS or RUN_INPUTS[k].flag]


def missing_flags(inputs: Iterable[str], config: Mapping[str, Any] | Any) -> list[str]:
    """The options among :func:`required_flags` that ``config`` (a RunConfig or a mapping of
    its fields) leaves unset; an input no option provides counts as missing."""
    out = []
    for key in inputs:
        spec = RUN_INPUTS.get(key)
        if spec is None:
            out.append(flag_of(key))
            continue
        if spec.config_key is None:
            continue
        value = (
            config.get(spec.config_key)
            if isinstance(config, Mapping)
            else getattr(config, spec.config_key, None)
        )
        if value is None:
            out.append(flag_of(key))
    return out
