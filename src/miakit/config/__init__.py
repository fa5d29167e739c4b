"""Run configuration, declared once: a frozen, typed schema that generates the YAML keys, the
command-line flags, the defaults and the checks.

Config is data: YAML is read with ``yaml.safe_load``; unknown keys are errors with a
suggestion; wrong types and out-of-range values are errors that name the key, what it takes,
what arrived and an example (``max_length: expected an integer >= 2, got 'lots' (str); e.g.
max_length: 2048``). All problems are collected and raised together in one
:class:`~miakit.errors.InvalidParameterError`, before any model loads.

- :mod:`miakit.config.schema`: how a setting is declared and checked;
- :mod:`miakit.config.settings`: :class:`RunConfig`, every setting of ``miakit run``;
- :mod:`miakit.config.models`: model roles as data
  (``models: {role: {path, gguf_file, adapter}}``);
- :mod:`miakit.config.provided`: settings declared by input providers when they register;
- :mod:`miakit.config.options`: the same checks for options passed to a library object;
- :mod:`miakit.config.build`: reading, merging and writing configs.
"""

from miakit.config.build import dump_yaml, load_yaml, make_config, merge
from miakit.config.models import BUILTIN_ROLES, ModelRef, role_flag
from miakit.config.settings import KEYS, RunConfig, default_cache_dir

__all__ = [
    "BUILTIN_ROLES",
    "KEYS",
    "ModelRef",
    "RunConfig",
    "default_cache_dir",
    "dump_yaml",
    "load_yaml",
    "make_config",
    "merge",
    "role_flag",
]
