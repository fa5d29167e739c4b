"""Model roles of a run: which model each role loads, and which roles share one model."""

from __future__ import annotations

import os
from collections.abc import Mapping

from miakit.backends.base import TokenScorer
from miakit.config import BUILTIN_ROLES, RunConfig, role_flag
from miakit.config.models import canonical_role
from miakit.errors import InvalidParameterError

#: What each built-in model role is called on the command line (for error messages); any
#: other role is given with ``--model-role ROLE=PATH`` (:func:`miakit.config.role_flag`).
ROLE_FLAGS = {s.role: s.flag for s in BUILTIN_ROLES}

#: Roles that stand for another role when the user gives no model of their own
#: (``binoculars``' performer is the target unless ``--performer`` is given).
DEFAULT_ALIASES = {"performer": "target"}


def canonical_scorers(scorers: Mapping[str, TokenScorer] | None) -> dict[str, TokenScorer]:
    """``miakit.run``'s ``scorers=`` keyed by today's role names: an old name
    (:data:`~miakit.config.models.RENAMED_ROLES`, e.g. ``"sampling"``) is accepted with a
    ``DeprecationWarning``.

    Raises:
        InvalidParameterError: one role given under its old and its new name.
    """
    out: dict[str, TokenScorer] = {}
    spelled: dict[str, str] = {}  # role -> the name it was given under
    for given, scorer in (scorers or {}).items():
        # the warning points at the caller of miakit.run: run -> _run -> here
        role = canonical_role(given, where="miakit.run(scorers=...)", stacklevel=4)
        if role in out:
            raise InvalidParameterError(
                f"scorers= gives role {role!r} twice, as {spelled[role]!r} and as {given!r} "
                f"(an old name of it); keep {role!r} only"
            )
        out[role], spelled[role] = scorer, given
    return out


def model_paths(config: RunConfig) -> dict[str, tuple[str | None, str | None]]:
    """Model role -> ``(path, GGUF file name)`` for every role the config gives a model
    (``config.models``: the built-in shorthands and ``models:`` alike)."""
    return {role: (ref.path, ref.gguf_file) for role, ref in config.models.items()}


def check_given_scorers(config: RunConfig, scorers: Mapping[str, TokenScorer]) -> None:
    """Refuse an adapter for a role that ``miakit.run(scorers=...)`` gives in memory: the
    in-memory model is used as it is, so the adapter would be silently dropped.

    Raises:
        InvalidParameterError: naming the role and both fixes.
    """
    for role in scorers:
        ref = config.models.get(role)
        if ref is not None and ref.adapter is not None:
            raise InvalidParameterError(
                f"model role {role!r} is given in memory (scorers=) and with an adapter "
                f"({ref.adapter}); the in-memory model would be used without it. Merge the "
                "adapter into that model first (miakit.backends.hf.adapter.apply_adapter), or "
                "drop it from scorers= so the role loads from its path with the adapter."
            )


def adapters_meta(config: RunConfig) -> dict[str, dict[str, str]]:
    """Role -> its PEFT adapter (folder, base model, fingerprint) for each role the config
    gives one, for ``metrics.json``'s ``setup.adapters`` and the report."""
    from miakit.backends.hf.adapter_config import read_adapter

    cache = None if config.no_cache else config.resolved_cache_dir() / "fingerprints"
    out: dict[str, dict[str, str]] = {}
    for role, ref in config.models.items():
        if ref.adapter is not None:
            info = read_adapter(
                ref.adapter, allow_pickle=config.allow_pickle, fingerprint_cache=cache
            )
            out[role] = {"path": ref.adapter, "base": ref.path, "fingerprint": info.fingerprint}
    return out


def role_aliases(roles: set[str]) -> dict[str, str]:
    """The :data:`DEFAULT_ALIASES` that apply: role -> role it stands for, for each aliased
    role the user gave no model of its own and whose stand-in is available."""
    return {a: r for a, r in DEFAULT_ALIASES.items() if a not in roles and r in roles}


def shared_model_aliases(
    config: RunConfig, scorers: Mapping[str, TokenScorer], roles: set[str]
) -> dict[str, str]:
    """Roles that name the same model as an earlier role (the same in-memory scorer, or the
    same path and GGUF file) become aliases of it: the model loads once, and its signals
    (including paired ones, e.g. Binoculars' observer = Fast-DetectGPT's sampling model) are
    computed once."""
    order = sorted(roles, key=lambda r: (r != "target", r != "reference", r))
    paths = model_paths(config)
    first: dict[object, str] = {}
    aliases: dict[str, str] = {}
    for role in order:
        if role in scorers:
            ident: object = ("object", id(scorers[role]))
        elif paths.get(role, (None, None))[0] is not None:
            path, gguf = paths[role]
            adapter = config.models[role].adapter  # base + adapter is another model
            lora = None if adapter is None else os.path.realpath(adapter)
            ident = ("path", os.path.realpath(str(path)), gguf, lora)
        else:
            continue
        if ident in first:
            aliases[role] = first[ident]
        else:
            first[ident] = role
    return aliases


def worker_device(config: RunConfig) -> str:
    """``cuda:LOCAL_RANK`` for torchrun workers on a multi-GPU host, else the configured one."""
    if config.device != "auto" or not config.shard_size:
        return config.device
    import torch

    from miakit.signals.shards import WorkerInfo

    if not torch.cuda.is_available():
        return config.device
    worker = WorkerInfo.from_env()
    return f"cuda:{worker.local_rank % torch.cuda.device_count()}" if worker.world > 1 else "auto"


def load_scorer(config: RunConfig, role: str) -> TokenScorer:
    """The model of ``role``, from its configured path (Hugging Face backend).

    A model folder's weights load on first use (:class:`~miakit.backends.hf.LazyHFTokenScorer`),
    so a rerun whose signals are all cached loads no weights; GGUF files load eagerly."""
    from miakit.backends.hf import LazyHFTokenScorer, ModelSpec

    path, gguf = model_paths(config).get(role, (None, None))
    if path is None:
        raise InvalidParameterError(f"model role {role!r} needs {role_flag(role)}")
    spec = ModelSpec(
        path=path,
        gguf_file=gguf,
        device=worker_device(config),
        dtype=config.dtype,
        allow_pickle=config.allow_pickle,
        trust_remote_code=config.trust_remote_code,
        compile=config.compile,
        progress=config.progress,
        fingerprint_cache=None if config.no_cache else config.resolved_cache_dir() / "fingerprints",
        adapter=config.models[role].adapter,
    )
    return LazyHFTokenScorer.load(spec, name=path)
