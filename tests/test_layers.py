"""Imports point one way: no module of miakit imports from a layer above its own.

The layers, bottom first, are :data:`LAYERS` (see ``docs/architecture.md`` for what each owns).
A module's layer is its top-level subpackage or module under ``miakit`` (``miakit.signals.engine``
is in ``signals``; ``miakit.errors`` in ``errors``; the package root ``miakit`` and
``miakit.__main__`` are layers of their own, at the top). A module may import from its own
layer and from any layer of a lower tier; never from a higher tier, and never from another
layer of its own tier (peers stay independent). :data:`ONLY` narrows a few layers further, to
the layers the design lets them use.

Every import counts: module level, inside functions (lazy imports), under
``if TYPE_CHECKING:``, relative imports, and ``importlib.import_module("miakit....")`` with a
literal name. ``from miakit import __version__`` is an import of the package root, which sits
at the top.

Known violations still to fix are listed in :data:`ALLOWED`, each with its issue. The test also
fails when an entry of :data:`ALLOWED` no longer occurs, so the list shrinks as they are fixed
and cannot go stale.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "miakit"

#: Tiers of layers, bottom first. A layer may import from lower tiers only (and from itself).
#: Layers marked "planned" do not exist yet (issue 11's target layout); they are placed now so
#: that the first module of each lands in the right place.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_core",),  # errors, registry, io, part-file store, version: imports nothing of ours
    ("errors",),  # the public error hierarchy (a re-export of _core.errors)
    ("metrics", "config", "assets"),  # numpy metrics; the settings schema; packaged data
    ("data",),  # samples, readers, loaders, splits, overlap checks: no model
    ("backends",),  # capability protocols and the HF backend: nothing of signals
    ("signals",),  # the forward loop, signal tables, plan, cache, shards
    ("perturb",),  # neighbor generators, on the signals loop
    ("attacks",),  # pure functions of signal tables, registered with their needs
    ("results",),  # the typed run record that every output file is written from
    ("blind", "inference", "testing", "report", "shadow", "audit"),  # audit: planned
    ("pipeline",),  # the run: selection, roles, input providers, sharding, outputs
    ("setinference",),  # dataset inference and the collection test from files (run + blind)
    ("runner",),  # the old import path of miakit.run: a re-export of pipeline.runner
    ("demo",),  # the demo: data + fine-tune + a run
    ("cli",),  # argument parsing and printing; one module per verb
    ("miakit", "__main__"),  # the package root (lazy facade) and ``python -m miakit``
)

#: Layers that may use only some of the layers below them (DESIGN.md: "metrics uses nothing of
#: ours"; the report renders results and computes nothing new).
ONLY: dict[str, frozenset[str]] = {
    "_core": frozenset(),
    "errors": frozenset({"_core"}),
    "metrics": frozenset({"_core", "errors"}),
    "report": frozenset({"_core", "errors", "metrics", "results"}),
}

#: Known violations, ``(importing module, imported module)``, to be removed as they are fixed.
#: Each names its issue. Do not add an entry to make a new import pass: fix the import.
ALLOWED: frozenset[tuple[str, str]] = frozenset()

TIER = {layer: i for i, tier in enumerate(LAYERS) for layer in tier}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def is_module(name: str) -> bool:
    """Whether ``name`` (``miakit.x.y``) is a module or package of the source tree."""
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import of a ``miakit`` module in ``path``."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                # ``from miakit.signals import engine`` imports the module miakit.signals.engine
                yield (sub if is_module(sub) else source), node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, node.lineno


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def violations() -> dict[tuple[str, str], list[str]]:
    """``(module, imported) -> ["file:line why", ...]`` for every import against the layers."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sources():
        module = module_name(path)
        own = layer_of(module)
        for target, line in imports_of(path):
            if target != "miakit" and not target.startswith("miakit."):
                continue
            other = layer_of(target)
            if other == own:
                continue
            why = None
            if own in ONLY and other not in ONLY[own]:
                why = f"{own!r} may use only {sorted(ONLY[own])}"
            elif TIER[other] > TIER[own]:
                why = f"{other!r} is above {own!r}"
            elif TIER[other] == TIER[own]:
                why = f"{other!r} and {own!r} are peers"
            if why:
                where = f"{path.relative_to(SRC.parent)}:{line}"
                entries = found.setdefault((module, target), [])
                if f"{where} ({why})" not in entries:  # one line may import several names
                    entries.append(f"{where} ({why})")
    return found


def test_every_module_has_a_layer():
    unknown = sorted({layer_of(module_name(p)) for p in sources()} - set(TIER))
    assert not unknown, (
        f"modules in layers {unknown} are not placed: add them to LAYERS in "
        "tests/test_layers.py and to docs/architecture.md"
    )


def test_layer_list_is_consistent():
    names = [layer for tier in LAYERS for layer in tier]
    assert len(names) == len(set(names)), "a layer appears twice in LAYERS"
    for layer, allowed in ONLY.items():
        assert layer in TIER
        assert all(TIER[a] < TIER[layer] for a in allowed), layer


def test_no_import_points_up():
    found = violations()
    new = {k: v for k, v in found.items() if k not in ALLOWED}
    lines = [f"{m} imports {t}: {'; '.join(w)}" for (m, t), w in sorted(new.items())]
    assert not new, (
        "imports against the layer order (docs/architecture.md, tests/test_layers.py):\n"
        + "\n".join(lines)
    )


def test_allowed_violations_still_occur():
    stale = sorted(ALLOWED - set(violations()))
    assert not stale, (
        f"these ALLOWED entries no longer occur; delete them from tests/test_layers.py: {stale}"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from miakit.signals.transfer import to_device\n", {"miakit.signals.transfer"}),
        ("def f():\n    from miakit import __version__\n", {"miakit"}),
        ("from miakit import runner\n", {"miakit.runner"}),
        ("from ..signals import engine\n", {"miakit.signals.engine"}),
        ("from . import base\n", {"miakit.backends.base"}),
        ("import importlib\nimportlib.import_module('miakit.cli.main')\n", {"miakit.cli.main"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import miakit.runner\n",
         {"miakit.runner"}),
    ],
)  # fmt: skip
def test_import_parser(tmp_path, monkeypatch, source, expected):
    """The parser sees module-level, lazy, relative, type-only and importlib imports."""
    root = tmp_path / "src"
    pkg = root / "miakit" / "backends"
    pkg.mkdir(parents=True)
    for d in (root / "miakit", pkg):
        (d / "__init__.py").write_text("")
    for name in ("runner.py", "backends/base.py"):
        (root / "miakit" / name).write_text("")
    (root / "miakit" / "signals").mkdir()
    (root / "miakit" / "signals" / "__init__.py").write_text("")
    (root / "miakit" / "signals" / "engine.py").write_text("")
    probe = pkg / "probe.py"
    probe.write_text(source)
    monkeypatch.setitem(globals(), "SRC", root)
    got = {t for t, _ in imports_of(probe)} - {"importlib", "typing"}
    assert got == expected
