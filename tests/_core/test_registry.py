"""The generic registry shared by attacks, blind baselines and input providers."""

from __future__ import annotations

import pytest

from miakit._core.registry import Registry
from miakit.attacks import default_registry
from miakit.blind import default_baselines
from miakit.errors import InvalidParameterError


def test_lookup_iteration_and_did_you_mean():
    reg: Registry[int] = Registry("widget")
    reg.add("zeta", 3)
    reg.add("alpha", 1)
    reg.add("mid", 2)
    assert reg.names() == ["alpha", "mid", "zeta"]  # sorted, not insertion order
    assert list(reg) == [1, 2, 3]
    assert reg.as_dict() == {"alpha": 1, "mid": 2, "zeta": 3}
    assert "mid" in reg and "nope" not in reg and len(reg) == 3
    assert reg.get("mid") == 2
    with pytest.raises(InvalidParameterError) as err:
        reg.get("alpah")
    assert str(err.value) == (
        "unknown widget 'alpah'; available: alpha, mid, zeta. Did you mean 'alpha'?"
    )
    with pytest.raises(InvalidParameterError, match=r"available: alpha, mid, zeta\.$"):
        reg.get("qqqqqq")  # nothing close: no suggestion


def test_decorator_registers_and_returns_the_object():
    reg: Registry[tuple[str, object]] = Registry("thing", identity=lambda item: item[1])

    @reg.decorator("f", lambda fn: ("made", fn))
    def f() -> int:
        return 1

    assert f() == 1 and reg.get("f") == ("made", f)
    reg.decorator("f", lambda fn: ("again", fn))(f)  # the same object again: allowed
    assert reg.get("f") == ("again", f)

    def other() -> int:
        return 2

    with pytest.raises(RuntimeError, match="thing 'f' registered twice"):
        reg.decorator("f", lambda fn: ("x", fn))(other)


def test_the_duplicate_is_refused_before_the_item_is_made():
    reg: Registry[object] = Registry("thing")
    reg.add("a", 1)
    made = []
    with pytest.raises(RuntimeError, match="registered twice"):
        reg.decorator("a", made.append)(2)
    assert made == []


def test_freeze_and_a_fresh_copy_for_tests():
    reg: Registry[int] = Registry("gadget", registry_name="gadget-box")
    reg.add("a", 1)
    assert reg.freeze() is reg and reg.frozen
    with pytest.raises(RuntimeError, match="the gadget-box registry is frozen"):
        reg.add("b", 2)
    with pytest.raises(RuntimeError, match="frozen"):
        reg.decorator("b", lambda x: x)(2)
    copy = reg.copy()
    assert type(copy) is Registry and not copy.frozen
    copy.add("b", 2)
    assert copy.names() == ["a", "b"] and reg.names() == ["a"]


def test_subclass_copies_keep_their_type_and_messages():
    attacks = default_registry().copy()
    assert type(attacks) is type(default_registry()) and not attacks.frozen

    @attacks.register("spy", needs=("token_log_prob",), paper="-")
    def spy(signals, *, k: int = 1):
        return signals

    assert "spy" in attacks and "spy" not in default_registry()
    with pytest.raises(RuntimeError, match="the attack registry is frozen"):
        default_registry().register("spy", needs=(), paper="-")(spy)
    with pytest.raises(RuntimeError, match="the blind-baseline registry is frozen"):
        default_baselines().register("spy", paper="-")(lambda *, seed: None)


def test_discover_imports_public_modules(tmp_path, monkeypatch):
    pkg = tmp_path / "toy_plugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from miakit._core.registry import Registry\nREG = Registry('toy')\n"
    )
    (pkg / "one.py").write_text("from toy_plugins import REG\nREG.add('one', 1)\n")
    (pkg / "_private.py").write_text("from toy_plugins import REG\nREG.add('private', 0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_plugins  # type: ignore[import-not-found]

    assert toy_plugins.REG.discover("toy_plugins").names() == ["one"]


def test_core_imports_nothing_else_of_miakit():
    import ast
    from pathlib import Path

    import miakit._core as core

    for path in Path(core.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [alias.name for alias in node.names]
            else:
                continue
            for mod in mods:
                assert mod.split(".")[0] != "miakit" or mod.startswith("miakit._core"), (path, mod)
