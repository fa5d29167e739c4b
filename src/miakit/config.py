"""Run configuration: a frozen, typed dataclass loaded from YAML and overridden by CLI flags.

Config is data: YAML is read with ``yaml.safe_load``; unknown keys are errors with a
suggestion; wrong types are errors that name the key, the expected type, what arrived and an
example (``max_length: expected an integer, got 'lots' (str); e.g. max_length: 2048``). All
problems are collected and raised together in one :class:`~miakit.errors.InvalidParameterError`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from miakit.errors import InvalidParameterError, did_you_mean


@dataclass(frozen=True)
class RunConfig:
    """Everything ``miakit run`` needs. Field names are the YAML keys; flags use dashes.

    Attributes:
        model: the target model: a local folder (safetensors) or a ``.gguf`` file.
        members: file or folder of known members.
        nonmembers: file or folder of known non-members.
        data: one file or folder with a ``label`` column (instead of members/nonmembers).
        reference: a reference model (any tokenizer), for the ``reference*`` attacks.
        performer: the performer model of ``binoculars`` (default: the target model).
        observer: the observer model of ``binoculars``; shares the performer's tokenizer.
        sampling_model: the sampling model of ``fast_detectgpt_ref``; shares the target's
            tokenizer.
        attacks: attack names; ``None`` runs every attack the given inputs allow.
        attack_params: ``{attack: {hyperparameter: value}}``.
        out: output folder.
        max_length: the most tokens per text (longer texts are truncated and flagged).
        batch_tokens: the most padded tokens per forward batch (default by device).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: ``auto`` (bf16 on CUDA, fp32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        bos: ``auto`` (the tokenizer's own choice), ``always`` or ``never``.
        packing: ``auto`` (padding-free packed rows on CUDA where the architecture supports
            it), ``packed`` or ``padded``.
        shard_size: score in resumable shards of this many texts under ``<out>/shards``
            (one worker per process; ``torchrun`` sets RANK/WORLD_SIZE; rank 0 merges).
        compile: ``torch.compile`` each model's decoder (a one-time cost; GPU runs).
        gguf_file / reference_gguf_file / performer_gguf_file / observer_gguf_file /
            sampling_model_gguf_file: GGUF file names inside the model folders.
        allow_pickle: load pickle checkpoints (runs code from them).
        trust_remote_code: run model folders' own Python code.
        allow_overlap: score texts present among both members and non-members.
        cache_dir: where signals are cached (default ``~/.cache/miakit``).
        no_cache: neither read nor write the signal cache.
        seed: seed of every random choice (bootstrap).
        n_bootstrap: bootstrap resamples for confidence intervals.
        text_field / id_field / label_field: column names in the input files.
        progress: show progress bars.
        split_method: how members and non-members were chosen, for the report: ``given``
            (by the user), ``random`` (a seeded random split), ``fine-tune`` (by construction).
        blind: run the model-free blind baselines (:mod:`miakit.blind`) beside the attacks and
            warn when they separate members from non-members (distribution shift; arXiv
            2406.16201). ``--no-blind`` turns them off.
        blind_permutations: label permutations of the blind baselines' family-wise
            permutation test (``--blind-permutations``, default 199; 0 runs none and the
            warning falls back to an interval rule). All permutations share one closed-form
            fit per fold (:mod:`miakit.blind`).
        blind_alpha: level of that test (``--blind-alpha``, default 0.05): the shift warning
            fires when the family-wise p-value is at most this; in (0, 1) and at least
            ``1 / (1 + blind_permutations)``.
        overlap_warn_fraction: warn when more than this share of the non-members has an exact
            or near-duplicate member (:mod:`miakit.data.overlap`), in ``[0, 1]``.
        aux_nonmembers: file or folder of known non-members for the ReCaLL prefix
            (``recall``, ``con_recall``); must share no text with the evaluation data.
        aux_members: file or folder of known members for Con-ReCall's member prefix.
        recall_shots: texts drawn (with ``seed``) from each auxiliary set into its prefix.
        recall_separator: joins the shots of a prefix (``""``, as the official ReCaLL code).
        calibrate: a labelled file (members and non-members, disjoint from the evaluation
            data) on which calibrated hyperparameters (Con-ReCall's γ) are chosen by AUROC.
        frequency_corpus: a reference corpus (file or folder of .txt/.jsonl/.json/.csv/
            .parquet) for DC-PDD's token frequencies; must not contain evaluation texts.
        neighbors: neighbours per text for ``neighborhood`` and ``neighborhood_causal``.
        fill_mask_model: a local masked LM (BERT-style, safetensors, fast tokenizer) that
            writes ``neighborhood``'s neighbours with the paper's generator (embedding
            dropout 0.7, ranked single-word swaps); ``neighborhood`` needs it. The variant
            ``neighborhood_causal`` resamples words with the target instead.
        neighbor_fraction: share of the words (tokens) replaced in each neighbour, in (0, 1]
            (``neighborhood_causal`` only; the paper's neighbours swap exactly one word).
        neighbor_top_k: proposals per word (``neighborhood``: the top-k other words of the
            masked LM; ``neighborhood_causal``: replacements are drawn from the top-k).
    """

    model: str | None = None
    members: str | None = None
    nonmembers: str | None = None
    data: str | None = None
    reference: str | None = None
    performer: str | None = None
    observer: str | None = None
    sampling_model: str | None = None
    attacks: tuple[str, ...] | None = None
    attack_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    out: str = "miakit-out"
    max_length: int = 2048
    batch_tokens: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    bos: str = "auto"
    packing: str = "auto"
    shard_size: int | None = None
    compile: bool = False
    gguf_file: str | None = None
    reference_gguf_file: str | None = None
    performer_gguf_file: str | None = None
    observer_gguf_file: str | None = None
    sampling_model_gguf_file: str | None = None
    allow_pickle: bool = False
    trust_remote_code: bool = False
    allow_overlap: bool = False
    cache_dir: str | None = None
    no_cache: bool = False
    seed: int = 0
    n_bootstrap: int = 1000
    text_field: str = "text"
    id_field: str = "id"
    label_field: str = "label"
    progress: bool = True
    split_method: str = "given"
    blind: bool = True
    blind_permutations: int = 199
    blind_alpha: float = 0.05
    overlap_warn_fraction: float = 0.01
    aux_nonmembers: str | None = None
    aux_members: str | None = None
    recall_shots: int = 5
    recall_separator: str = ""
    calibrate: str | None = None
    frequency_corpus: str | None = None
    neighbors: int = 10
    fill_mask_model: str | None = None
    neighbor_fraction: float = 0.15
    neighbor_top_k: int = 10

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["attacks"] = list(self.attacks) if self.attacks is not None else None
        d["attack_params"] = {k: dict(v) for k, v in self.attack_params.items()}
        return d

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


def default_cache_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "miakit"


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(RunConfig)}


def _type_ok(name: str, value: Any) -> tuple[bool, Any]:
    """Check and normalise one value against the field's annotation."""
    hints = typing.get_type_hints(RunConfig)
    hint = hints[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if value is None:
        return optional, None
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    origin = typing.get_origin(base)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return False, value
        return True, tuple(value)
    if origin in (Mapping, dict) or base is Mapping:
        if not isinstance(value, Mapping) or not all(
            isinstance(v, Mapping) for v in value.values()
        ):
            return False, value
        return True, {str(k): dict(v) for k, v in value.items()}
    if base is bool:
        return isinstance(value, bool), value
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if base is str:
        if isinstance(value, Path):
            value = str(value)
        return isinstance(value, str), value
    return True, value


#: Example values for keys whose default says nothing (``None``) or that are easy to get wrong.
_EXAMPLES: dict[str, str] = {
    "attacks": "[loss, min_k]",
    "attack_params": "{min_k: {k: 0.2}}",
    "batch_tokens": "16384",
    "shard_size": "1000",
    "cache_dir": "~/.cache/miakit",
}


def _expected(name: str) -> tuple[str, str]:
    """``(what the key takes, a YAML example line)`` for an error message."""
    hint = typing.get_type_hints(RunConfig)[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    origin = typing.get_origin(base)
    if origin is tuple:
        what = "a list of attack names (or one comma-separated string)"
    elif origin in (Mapping, dict) or base is Mapping:
        what = "a mapping of attack name to {hyperparameter: value}"
    elif base is bool:
        what = "true or false"
    elif base is int:
        what = "an integer"
    elif base is float:
        what = "a number"
    elif base is str:
        what = "a string (a path or name)" if optional else "a string"
    else:
        what = f"a {getattr(base, '__name__', base)}"
    if optional:
        what += ", or null for the default"
    default = FIELDS[name].default
    if name in _EXAMPLES:
        example = _EXAMPLES[name]
    elif base is bool:
        example = "true"
    elif default is not None and default is not dataclasses.MISSING:
        example = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...")
        example = example.strip()
    else:
        example = "path/to/it" if base is str else "1"
    return what, f"{name}: {example}"


def _type_problem(name: str, value: Any) -> str:
    what, example = _expected(name)
    return f"{name}: expected {what}, got {value!r} ({type(value).__name__}); e.g. {example}"


def make_config(values: Mapping[str, Any], *, source: str = "arguments") -> RunConfig:
    """Build a :class:`RunConfig`, collecting every unknown key and type error."""
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in FIELDS:
            problems.append(f"unknown key {key!r}.{did_you_mean(key, FIELDS)}")
            continue
        ok, norm = _type_ok(key, value)
        if not ok:
            problems.append(_type_problem(key, value))
        else:
            clean[key] = norm
    if problems:
        raise InvalidParameterError(
            f"invalid configuration in {source}:\n  " + "\n  ".join(problems)
        )
    return RunConfig(**clean)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (``yaml.safe_load``) into a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameterError(f"cannot read config {p}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"config {p} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterError(f"config {p} must be a mapping of keys to values")
    return data


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by the ``overrides`` that are not ``None`` (flags the user set)."""
    out = dict(base)
    for k, v in overrides.items():
        if v is None:
            continue
        if k == "attack_params" and isinstance(v, Mapping):
            params = {a: dict(p) for a, p in (out.get("attack_params") or {}).items()}
            for attack, ps in v.items():
                params.setdefault(attack, {}).update(ps)
            out[k] = params
        else:
            out[k] = v
    return out


def dump_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
