"""Command-line flags generated from the config schema (:mod:`miakit.config.settings`).

Each setting with a flag becomes one option whose ``dest`` is the YAML key, listed in the
``--help`` section of its group: an integer or number flag parses with a message that says
what is expected (:mod:`miakit.cli._types`), a string with choices lists them, a boolean that
defaults to false is ``--name`` and one that defaults to true is ``--no-name``. Flags the user
did not give are absent from the parsed namespace (``argparse.SUPPRESS``), so a flag overrides
the YAML only when given. The range checks are the schema's own, run when the config is
built: a flag and a YAML key give the same message.

Model roles get ``--model``, ``--reference``... with their ``--*-gguf-file`` and
``--adapter``/``--*-adapter`` variants (:data:`~miakit.config.models.BUILTIN_ROLES`) and
``--model-role ROLE=PATH`` (``ROLE.KEY=VALUE``) for any role.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import Any

from miakit.cli._types import integer, number
from miakit.config.build import all_keys
from miakit.config.models import BUILTIN_ROLES, ROLE_PATTERN, SPEC_KEYS
from miakit.config.schema import Key

#: ``--help`` section of each settings group: ``(title, description)``; the YAML section
#: of the same name holds the group's keys.
GROUP_TITLES: dict[str, tuple[str, str | None]] = {
    "models": (
        "models",
        "the shorthands of the built-in roles; any role: --model-role ROLE=PATH (YAML: "
        "models: {ROLE: {path: PATH}})",
    ),
    "inputs": ("evaluation data", "YAML: flat or under inputs:"),
    "backend": ("model loading", "YAML: flat or under backend:"),
    "engine": ("signal engine", "YAML: flat or under engine:"),
    "cache": ("signal cache", "YAML: flat or under cache:"),
    "evaluation": ("metrics", "YAML: flat or under evaluation:"),
    "integrity": (
        "evaluation integrity (blind baselines, overlap)",
        "YAML: flat or under integrity:",
    ),
    "auxiliary": (
        "auxiliary inputs",
        "texts that feed attacks or choose their hyperparameters; none may share a text with "
        "the evaluation data (exact or up to case, punctuation and whitespace). YAML: flat or "
        "under auxiliary:",
    ),
}


def _help(key: Key) -> str:
    if key.base is bool and key.default is True:
        return key.setting.off_help or f"turn off: {key.setting.help}"
    text = key.setting.help
    if key.base is not bool and key.default not in (None, "", {}) and "default" not in text:
        text += f" (default: {key.default})"
    return text


def flag_keys() -> Iterator[Key]:
    """The settings that have a flag, in declaration order: :class:`RunConfig`'s, then those
    the input providers registered so far declared (:mod:`miakit.config.provided`)."""
    return (k for k in all_keys().values() if k.flag is not None)


def add_setting(parser: argparse._ActionsContainer, key: Key) -> None:
    """Add ``key``'s flag to ``parser`` (a parser or an argument group)."""
    flag, s = key.flag, key.setting
    assert flag is not None  # callers pass flag_keys() only
    kwargs: dict[str, Any] = {"dest": key.name, "default": argparse.SUPPRESS, "help": _help(key)}
    if key.base is bool:
        parser.add_argument(flag, action="store_const", const=not key.default, **kwargs)
        return
    if s.metavar:
        kwargs["metavar"] = s.metavar
    if s.repeat:
        kwargs["action"] = "append"
    if s.choices:
        kwargs["choices"] = s.choices
    example = s.example if s.example is not None else key.default
    if key.base is int:
        kwargs["type"] = integer(int(example) if example is not None else 1)
    elif key.base is float:
        kwargs["type"] = number(float(example) if example is not None else 1.0)
    parser.add_argument(flag, **kwargs)


def model_role(value: str) -> tuple[str, str, str]:
    """Parse ``ROLE=PATH`` or ``ROLE.KEY=VALUE`` (``KEY``: a model spec key such as
    ``gguf_file``) into ``(role, key, value)``."""
    name, sep, raw = value.partition("=")
    role, dot, spec_key = name.partition(".")
    spec_key = spec_key if dot else "path"
    if not sep or not raw or re.fullmatch(ROLE_PATTERN, role) is None or spec_key not in SPEC_KEYS:
        raise argparse.ArgumentTypeError(
            "expected ROLE=PATH or ROLE.KEY=VALUE with KEY one of "
            f"{', '.join(SPEC_KEYS)} (e.g. reference_2=path/to/model, "
            f"reference_2.gguf_file=model-q4.gguf or reference_2.adapter=path/to/lora), got "
            f"{value!r}"
        )
    return role, spec_key, raw


def add_run_flags(parser: argparse.ArgumentParser, names: Iterator[str] | tuple[str, ...]) -> None:
    """What a verb that scores texts through ``miakit run`` takes from it: ``--config``, the
    model flags (:func:`add_model_flags`) and the run settings ``names`` (others via
    ``--config``)."""
    from miakit.config.settings import KEYS

    parser.add_argument(
        "--config", metavar="YAML", help="YAML file with run settings (flags override it)"
    )
    add_model_flags(parser)
    g = parser.add_argument_group("run settings", "as for `miakit run`; others via --config")
    for name in names:
        add_setting(g, KEYS[name])


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--reference``... (with ``--*-gguf-file``, ``--*adapter``) and
    ``--model-role``."""
    g = parser.add_argument_group(*GROUP_TITLES["models"])
    for s in BUILTIN_ROLES:
        g.add_argument(s.flag, dest=s.key, default=argparse.SUPPRESS, help=s.help)
    for s in BUILTIN_ROLES:
        folder = f"the {s.flag} folder"
        g.add_argument(
            s.gguf_flag,
            dest=s.gguf_key,
            default=argparse.SUPPRESS,
            help=f"GGUF file name inside {folder}",
        )
    for s in BUILTIN_ROLES:
        what = (
            "a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) "
            "applied to the --model base, merged into its weights at load"
            if s.role == "target"
            else f"a PEFT LoRA adapter folder applied to the {s.flag} base"
        )
        g.add_argument(
            s.adapter_flag, dest=s.adapter_key, default=argparse.SUPPRESS, metavar="DIR", help=what
        )
    g.add_argument(
        "--model-role",
        dest="model_role",
        action="append",
        type=model_role,
        default=argparse.SUPPRESS,
        metavar="ROLE=PATH",
        help="a model for any role, e.g. reference_2=path/to/model (ROLE.gguf_file=FILE: its "
        "GGUF file; ROLE.adapter=DIR: a PEFT LoRA adapter on it; repeatable)",
    )


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """Every setting's flag, the top-level ones first, then one ``--help`` section per
    group in declaration order."""
    sections: dict[str, argparse._ArgumentGroup] = {}
    for key in flag_keys():
        group = key.setting.group
        if group is None:
            add_setting(parser, key)
            continue
        if group not in sections:
            sections[group] = parser.add_argument_group(*GROUP_TITLES.get(group, (group, None)))
        add_setting(sections[group], key)


def values_of(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the user gave as flags (``--model-role`` entries under ``models``)."""
    keys = all_keys()
    out = {k: v for k, v in vars(args).items() if k in keys or _is_shorthand(k)}
    for name, value in out.items():
        if name in keys and keys[name].setting.repeat:  # --plugin a --plugin b,c
            out[name] = [v.strip() for item in value for v in item.split(",") if v.strip()]
    roles: dict[str, dict[str, str]] = {}
    for role, spec_key, value in getattr(args, "model_role", None) or ():
        roles.setdefault(role, {})[spec_key] = value
    if roles:
        out["models"] = roles
    return out


def _is_shorthand(name: str) -> bool:
    from miakit.config.models import SHORTHAND_KEYS

    return name in SHORTHAND_KEYS


def preload(argv: list[str]) -> None:
    """Before ``miakit run`` builds its flags: import the ``--plugin`` modules (and those of
    the ``--config`` file's ``plugins:``), then the built-in and installed input providers, so
    that the settings they declare have flags and YAML keys (:mod:`miakit.config.provided`).

    Raises:
        InvalidParameterError: a plugin is not found, or the config file cannot be read.
    """
    if not argv or argv[0] != "run":
        return
    from miakit._core.plugins import import_plugins
    from miakit.config import load_yaml
    from miakit.pipeline.inputs import default_providers

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugin", action="append", default=[])
    early.add_argument("--config")
    known, _ = early.parse_known_args(argv[1:])
    modules: list[str] = [m for item in known.plugin for m in str(item).split(",")]
    if known.config:
        listed = load_yaml(known.config).get("plugins") or []
        modules += listed.split(",") if isinstance(listed, str) else [str(m) for m in listed]
    import_plugins(m.strip() for m in modules if m.strip())
    default_providers()
