"""Heavy modules load only in the stages that use them (issue 15).

Each check runs in a fresh interpreter, since this test process has imported everything
already. ``import miakit`` and the command line's start (``--help``, ``--version``) must not
import torch, transformers, scikit-learn, scipy, matplotlib, pandas or pyarrow; nor must
importing the model-free layers that every run imports (the config, the backend protocols,
the blind baselines' package); nor must ``miakit list attacks``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: What a start-up must not import: each costs from 0.03 s (jinja2) to 0.9 s (torch) on the
#: 2-core CPU machine of ``benchmarks/README.md``.
HEAVY = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "sklearn",
    "scipy",
    "matplotlib",
    "jinja2",
    "pandas",
    "pyarrow",
    "tqdm",
)

_PROBE = """
import json, runpy, sys
argv = sys.argv[1:]
if argv[0] == "-m":
    sys.argv = ["miakit", *argv[1:]]
    try:
        runpy.run_module("miakit", run_name="__main__")
    except SystemExit:
        pass
else:
    for name in argv:
        __import__(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded_after(*argv: str) -> set[str]:
    """Top-level modules loaded in a fresh interpreter after importing ``argv`` (module
    names), or after ``python -m miakit ARGS`` when ``argv[0] == "-m"``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_probe_sees_a_heavy_import():
    """The control: the probe reports what was imported (else the tests below prove nothing)."""
    assert "scipy" in loaded_after("scipy.sparse")


@pytest.mark.parametrize(
    "modules",
    [
        ("miakit",),
        ("miakit.config", "miakit.errors"),
        ("miakit.backends.base",),
        ("miakit.blind",),
    ],
    ids=lambda m: "+".join(m),
)
def test_importing_loads_no_heavy_module(modules):
    assert loaded_after(*modules) & set(HEAVY) == set()


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("run", "--help"),  # imports every input provider, for the settings they declare
        ("demo", "--help"),
        ("report", "--help"),
        ("collection-test", "--help"),
        ("list", "attacks"),
    ],
    ids=" ".join,
)
def test_the_command_line_starts_without_heavy_modules(args):
    assert loaded_after("-m", *args) & set(HEAVY) == set()


#: What a run whose signals are all cached never needs: the model libraries.
MODEL_LIBRARIES = ("torch", "transformers", "tokenizers")


@pytest.mark.parametrize(
    "modules",
    [
        ("miakit.pipeline.runner",),
        ("miakit.backends.hf", "miakit.backends.placement"),
        ("miakit.signals.engine", "miakit.signals.paired", "miakit.signals.plan"),
        ("miakit.perturb", "miakit.perturb.causal", "miakit.perturb.masked"),
        ("miakit.demo", "miakit.demo.models"),
    ],
    ids=lambda m: "+".join(m),
)
def test_the_run_path_imports_no_model_library(modules):
    """The modules a run imports bind torch lazily (:mod:`miakit._core.lazy`): importing them
    loads none of torch, transformers, tokenizers (a cached rerun runs no model)."""
    assert loaded_after(*modules) & set(MODEL_LIBRARIES) == set()
