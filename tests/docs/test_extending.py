"""docs/extending.md's examples run, so that the guide cannot drift from the code.

Every fenced ``python`` block of the guide carries a marker on the line before it:

- ``<!-- test: NAME -->``: part of example ``NAME``; the unmarked-file blocks of one example are
  joined in order into one script;
- ``<!-- test: NAME file=PATH -->``: written to ``PATH`` beside that script (a user's own
  module, or a ``test_*.py`` file that is then run with pytest);
- ``<!-- untested: WHY -->``: shown but not run.

Each example runs in a fresh interpreter in an empty folder, as a user's script would: the
attack example registers into miakit's *default* registry, which a test process has long
frozen. The signal cache goes to that folder (``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
BLOCK = re.compile(r"(?:<!--\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S)
TESTED = re.compile(r"test:\s*(?P<name>[\w-]+)(?:\s+file=(?P<file>[\w./-]+))?$")
#: The examples the guide must hold (a renamed or dropped one fails here, not silently).
EXAMPLES = ("attack", "backend", "provider")


@dataclass
class Example:
    script: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


def examples() -> dict[str, Example]:
    found: dict[str, Example] = {}
    for match in BLOCK.finditer(GUIDE.read_text(encoding="utf-8")):
        marker, code = match["marker"] or "", match["code"]
        if marker.startswith("untested:"):
            continue
        tested = TESTED.fullmatch(marker)
        assert tested, f"a python block of {GUIDE.name} has no test marker:\n{code[:200]}"
        example = found.setdefault(tested["name"], Example())
        if tested["file"]:
            assert tested["file"] not in example.files, f"{tested['file']} written twice"
            example.files[tested["file"]] = code
        else:
            example.script.append(code)
    return found


def test_the_guide_holds_every_example() -> None:
    assert sorted(examples()) == sorted(EXAMPLES)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # one thread: the tiny models gain nothing from more, and the test machine is shared
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(cwd / ".cache"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(cwd), os.environ.get("PYTHONPATH")) if p),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs(name: str, tmp_path: Path) -> None:
    example = examples()[name]
    assert example.script, f"example {name!r} has no script block"
    for path, code in example.files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(code, encoding="utf-8")
    (tmp_path / "main.py").write_text("\n".join(example.script), encoding="utf-8")
    done = _run([sys.executable, "main.py"], tmp_path)
    assert done.returncode == 0, f"example {name!r} failed:\n{done.stdout}\n{done.stderr}"
    tests = sorted(p for p in example.files if Path(p).name.startswith("test_"))
    if tests:
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
        done = _run(args, tmp_path)
        assert done.returncode == 0, f"{name!r}'s tests failed:\n{done.stdout}\n{done.stderr}"
