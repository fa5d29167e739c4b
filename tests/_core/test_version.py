"""One version, in the core, read by the package root and the writers of manifests."""

from __future__ import annotations

import re
from pathlib import Path

import miakit
from miakit._core.version import __version__


def test_the_root_reexports_the_core_version():
    assert miakit.__version__ == __version__


def test_the_version_matches_pyproject():
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', pyproject, flags=re.MULTILINE)
    assert match is not None and match.group(1) == __version__


def test_no_module_imports_the_version_from_the_package_root():
    src = Path(miakit.__file__).parent
    offenders = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if re.search(r"^\s*from miakit import [^\n]*__version__", p.read_text(), re.MULTILINE)
    ]
    assert offenders == []
