"""Model roles as data: ``models: {role: spec}``.

A run may use any number of models, each under a *role* that attacks name in their signals
(``target``, ``reference``, ``observer``...; later ``reference_1..8``, ``shadow_*``). The YAML
key ``models`` maps a role to a :class:`ModelRef`::

    models:
      target: {path: runs/ft/model}
      reference: {path: base-model}
      reference_2: base-model-q4.gguf        # a bare path is short for {path: ...}
      lora: {path: base-model, adapter: runs/lora}   # a base model plus a PEFT adapter

The five built-in roles keep their shorthands (:data:`BUILTIN_ROLES`): the flags ``--model``,
``--reference``, ``--performer``, ``--observer``, ``--sampling-model`` with their
``--*-gguf-file`` and ``--*adapter`` variants (``--adapter`` for the target,
``--reference-adapter``...), and the same flat YAML keys (``model``, ``reference_gguf_file``,
``adapter``...). They fill the same mapping. Any role can be given on the command line with
``--model-role ROLE=PATH`` (and ``--model-role ROLE.gguf_file=FILE``,
``--model-role ROLE.adapter=DIR``).

A role's name is its flat key (``--reference`` is role ``reference``, ``--sampling-model`` role
``sampling_model``), except the target's (``--model``). Names renamed since are accepted with a
``DeprecationWarning`` (:data:`RENAMED_ROLES`: ``sampling`` is ``sampling_model`` since issue 11).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from miakit._core.deprecation import warn_renamed


@dataclass(frozen=True)
class ModelRef:
    """Where one role's model comes from.

    Attributes:
        path: a local model folder (safetensors) or a ``.gguf`` file.
        gguf_file: the GGUF file name inside the ``path`` folder.
        adapter: a PEFT LoRA adapter folder applied to the model at ``path``
            (:mod:`miakit.backends.hf.adapter`).
    """

    path: str
    gguf_file: str | None = None
    adapter: str | None = None


#: The keys of a model spec (``models: {role: {path: ..., gguf_file: ..., adapter: ...}}``).
SPEC_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ModelRef))


@dataclass(frozen=True)
class Shorthand:
    """A built-in role's flat key and flag (``reference`` -> ``--reference``).

    Attributes:
        role: the role attacks name.
        key: the flat YAML key of its path (``model`` for the target).
        help: the flag's help.
    """

    role: str
    key: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def gguf_key(self) -> str:
        return "gguf_file" if self.key == "model" else f"{self.key}_gguf_file"

    @property
    def gguf_flag(self) -> str:
        return "--" + self.gguf_key.replace("_", "-")

    @property
    def adapter_key(self) -> str:
        return "adapter" if self.key == "model" else f"{self.key}_adapter"

    @property
    def adapter_flag(self) -> str:
        return "--" + self.adapter_key.replace("_", "-")


#: The built-in roles and their shorthands, in the order runs list them.
BUILTIN_ROLES: tuple[Shorthand, ...] = (
    Shorthand("target", "model", "target model: a local folder (safetensors) or a .gguf file"),
    Shorthand("reference", "reference", "reference model for the reference* attacks"),
    Shorthand("performer", "performer", "performer model for binoculars (default: the target)"),
    Shorthand(
        "observer", "observer", "observer model for binoculars (shares the performer's tokenizer)"
    ),
    Shorthand(
        "sampling_model",
        "sampling_model",
        "sampling model for fast_detectgpt_ref (shares the target's tokenizer)",
    ),
)

#: Flat key -> ``(role, spec key)``: ``reference_gguf_file`` -> ``("reference", "gguf_file")``.
SHORTHAND_KEYS: dict[str, tuple[str, str]] = {
    **{s.key: (s.role, "path") for s in BUILTIN_ROLES},
    **{s.gguf_key: (s.role, "gguf_file") for s in BUILTIN_ROLES},
    **{s.adapter_key: (s.role, "adapter") for s in BUILTIN_ROLES},
}

#: A role name: lower case, digits and underscores (``@`` joins the roles of a paired signal).
ROLE_PATTERN = r"[a-z][a-z0-9_]*"

#: Old role name -> its name now. The old one is accepted with a ``DeprecationWarning`` in
#: ``models:``, ``--model-role`` and ``miakit.run(scorers=...)``.
RENAMED_ROLES: dict[str, str] = {"sampling": "sampling_model"}  # issue 11: one name per role


def canonical_role(role: str, *, where: str, stacklevel: int = 4) -> str:
    """``role``'s name now (:data:`RENAMED_ROLES`), with a ``DeprecationWarning`` naming
    ``where`` it was written when it is an old one (``stacklevel``: the frame the warning
    names, 1 being the caller of this function)."""
    new = RENAMED_ROLES.get(role)
    if new is None:
        return role
    warn_renamed(role, new, what=f"model role in {where}", stacklevel=stacklevel + 2)
    return new


def role_flag(role: str) -> str:
    """The flag that gives ``role`` a model, for messages: ``--reference``, or
    ``--model-role shadow_1=PATH`` for a role without a shorthand."""
    for s in BUILTIN_ROLES:
        if s.role == role:
            return s.flag
    return f"--model-role {role}=PATH"


def shorthand_key(role: str, spec_key: str) -> str:
    """Where ``models.ROLE.KEY`` is written flat, for messages (``reference_gguf_file``)."""
    for key, target in SHORTHAND_KEYS.items():
        if target == (role, spec_key):
            return key
    return f"models.{role}.{spec_key}"


def raw_models(value: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    """``models:`` as ``{role: {spec key: value}}``, appending every problem to ``problems``.

    A bare string (or path) is short for ``{path: ...}``; a :class:`ModelRef` is taken as is.
    """
    example = "models: {reference: {path: path/to/base-model}}"
    if not isinstance(value, Mapping):
        problems.append(
            f"models: expected a mapping of role to {{path, gguf_file, adapter}}, got {value!r} "
            f"({type(value).__name__}); e.g. {example}"
        )
        return {}
    out: dict[str, dict[str, Any]] = {}
    spelled: dict[str, str] = {}  # role -> the name it was given under
    for role, spec in value.items():
        if not isinstance(role, str) or re.fullmatch(ROLE_PATTERN, role) is None:
            problems.append(
                f"models: role names are lower-case letters, digits and underscores, got "
                f"{role!r}; e.g. {example}"
            )
            continue
        given, role = role, canonical_role(role, where="models: / --model-role")
        if role in out:  # the old and the new name of one role
            problems.append(
                f"models: role {role!r} is given twice, as {spelled[role]!r} and as {given!r} "
                f"(an old name of it); keep {role!r} only"
            )
            continue
        spelled[role] = given
        if isinstance(spec, ModelRef):
            spec = {k: getattr(spec, k) for k in SPEC_KEYS}
        elif isinstance(spec, str | Path):
            spec = {"path": str(spec)}
        elif spec is None:
            spec = {"path": None}
        if not isinstance(spec, Mapping):
            problems.append(
                f"models.{role}: expected a path or a mapping {{path, gguf_file, adapter}}, got "
                f"{spec!r} ({type(spec).__name__}); e.g. {example}"
            )
            continue
        entry: dict[str, Any] = {}
        for k, v in spec.items():
            if k not in SPEC_KEYS:
                from miakit.errors import did_you_mean

                problems.append(
                    f"models.{role}: unknown key {k!r}.{did_you_mean(str(k), SPEC_KEYS)}"
                )
                continue
            entry[k] = v
        out[role] = entry
    return out


def build_models(raw: Mapping[str, Mapping[str, Any]], problems: list[str]) -> dict[str, ModelRef]:
    """The checked ``{role: ModelRef}`` from :func:`raw_models`'s form (roles without a path
    are left out; a GGUF file name or an adapter without a path is a problem)."""
    out: dict[str, ModelRef] = {}
    for role, spec in raw.items():
        path, gguf, adapter = spec.get("path"), spec.get("gguf_file"), spec.get("adapter")
        bad = False
        for k, v in (("path", path), ("gguf_file", gguf), ("adapter", adapter)):
            if isinstance(v, Path):
                v = str(v)
            if v is not None and not (isinstance(v, str) and v):
                where = shorthand_key(role, k)
                problems.append(
                    f"{where}: expected a string (a path or name), or null for the default, got "
                    f"{v!r} ({type(v).__name__}); e.g. {where}: path/to/it"
                )
                bad = True
        if bad:
            continue
        if path is None:
            if gguf is not None:
                problems.append(
                    f"{shorthand_key(role, 'gguf_file')} is {gguf!r} but role {role!r} has no "
                    f"model: give it with {role_flag(role)} (the GGUF file is looked up in "
                    "that folder)"
                )
            if adapter is not None:
                problems.append(
                    f"{shorthand_key(role, 'adapter')} is {adapter!r} but role {role!r} has no "
                    f"base model: give the adapter's base with {role_flag(role)}"
                )
            continue
        out[role] = ModelRef(
            path=str(path),
            gguf_file=None if gguf is None else str(gguf),
            adapter=None if adapter is None else str(adapter),
        )
    return out
