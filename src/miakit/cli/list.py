"""``miakit list attacks``: the attacks, what each requires, its signals and papers;
``miakit list classifier-attacks``: those of ``miakit shadow attack``."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    ls = sub.add_parser("list", help="list attacks")
    ls.add_argument(
        "what",
        choices=("attacks", "classifier-attacks"),
        help="attacks: on language models (miakit run); classifier-attacks: on shadow "
        "classifiers (miakit shadow attack)",
    )
    ls.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module first, so that the attacks it registers are listed (repeatable)",
    )


def main(args: argparse.Namespace) -> int:
    if args.what == "classifier-attacks":
        return _classifier_attacks()
    from miakit._core.plugins import import_plugins
    from miakit.attacks import default_registry
    from miakit.pipeline.select import attack_requirements

    import_plugins(m.strip() for item in args.plugin for m in item.split(",") if m.strip())
    registry = default_registry()
    rows = [("attack", "requires", "signals", "hyperparameters", "paper (arXiv)", "summary")]
    for spec in registry:
        params = ", ".join(f"{k}={v!r}" for k, v in spec.params.items()) or "-"
        requires = ", ".join(attack_requirements(spec)) or "-"
        signals = ", ".join([*map(str, spec.needs), *(f"extra:{e}" for e in spec.extras)])
        rows.append((spec.name, requires, signals, params, spec.paper, spec.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    print(
        "requires: flags an attack needs beyond --model ([...]: optional, with a default; "
        "[--attacks]: runs only when named)"
    )
    print("classifier attacks (miakit shadow attack): miakit list classifier-attacks")
    return 0


def _classifier_attacks() -> int:
    from miakit.shadow.attacks import default_registry

    rows = [("attack", "shadows", "signals", "hyperparameters", "paper (arXiv)", "summary")]
    for spec in default_registry():
        params = ", ".join(f"{k}={v!r}" for k, v in spec.params.items()) or "-"
        shadows = "yes" if spec.uses_shadows else "no"
        rows.append((spec.name, shadows, ", ".join(spec.needs), params, spec.paper, spec.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    print("shadows: whether it uses the other models as shadows (no: a threshold on the target)")
    return 0
