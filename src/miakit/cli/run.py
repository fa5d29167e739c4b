"""``miakit run``: score texts with membership inference attacks.

The flags come from the config schema (:mod:`miakit.cli.flags`); ``--config`` reads a YAML
file that the flags override. The whole config is checked before anything loads.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from miakit.cli._types import param
from miakit.cli.flags import add_model_flags, add_setting_flags, values_of
from miakit.config import RunConfig


def add_parser(sub: Any) -> None:
    """The ``run`` subcommand and its flags."""
    r = sub.add_parser("run", help="score texts with membership inference attacks")
    r.add_argument("--config", help="YAML file with run settings (flags override it)")
    add_model_flags(r)
    add_setting_flags(r)
    r.add_argument(
        "--param",
        action="append",
        type=param,
        metavar="ATTACK.PARAM=VALUE",
        help="attack hyperparameter, e.g. min_k.k=0.1 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The checked config of a parsed ``miakit run`` command line: the ``--config`` YAML,
    overridden by the flags that were given."""
    from miakit.config import load_yaml, make_config, merge

    base = load_yaml(args.config) if args.config else {}
    flags = values_of(args)
    if args.param:
        params: dict[str, dict[str, Any]] = {}
        for attack, name, value in args.param:
            params.setdefault(attack, {})[name] = value
        flags["attack_params"] = params
    source = f"{args.config} and flags" if args.config else "flags"
    return make_config(merge(base, flags, source=source), source=source)


def main(args: argparse.Namespace) -> int:
    from miakit._core.timing import count_startup
    from miakit.cli._echo import run_and_print

    config = config_from_args(args)
    count_startup()  # setup.timings["startup"]: from `import miakit` to the run's start
    result = run_and_print(config)  # the library prints nothing: the CLI prints the summary
    outputs = result.outputs
    if outputs and all(o.n_nan == len(o.scores) for o in outputs.values()):
        # one attack scoring nothing is a warning (the others stand); all of them, a failure
        where = f" (outputs in {result.out_dir})" if result.out_dir is not None else ""
        print(
            f"miakit: error: every attack scored nothing: {', '.join(outputs)} gave every "
            f"sample NaN; the reasons are above and in metrics.json (samples.nan){where}",
            file=sys.stderr,
        )
        return 2
    return 0
