"""What a run needs from a tokenizer without tokenising, remembered by the tokenizer files' bytes.

A rerun whose signals are all cached needs only a few facts from the tokenizer to name its
cache namespaces and assemble its tables: the tokenizer's fingerprint
(:func:`~miakit.backends.hf.files.fingerprint_tokenizer`), the lead ids of each BOS policy
(:func:`lead_ids_of`). Loading the tokenizer for them costs ``import transformers`` (about
6 s on the issue-15 H200 host: it pulls scikit-learn, sympy, torch.distributed...). So
:class:`TokenizerFacts` are derived once from the loaded tokenizer and kept in a small JSON
record, ``<fingerprint cache>/tokenizers/<key>.json``.

**The key** is a SHA-256 over the name and SHA-256 of every file of the model folder that is
not a weight file (``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``,
``vocab.json``, ``merges.txt``, ``*.model``, ``config.json``...: whatever ``AutoTokenizer`` may
read), and over the installed versions of transformers, tokenizers and sentencepiece. The
file digests come from the stat-keyed :class:`~miakit.backends.hf.digests.DigestCache`, but
the key itself is a hash of *contents*: a record found under it describes exactly these
bytes under these library versions, so a changed tokenizer file always means another key,
hence the facts are derived again (the digest cache's one limit, ``stat``, applies as it
does to the weights). When the tokenizer is loaded anyway (a text to tokenise), its facts
are derived again and checked against the record's: a disagreement is an error naming the
record, never a silent mix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from miakit._core.io import atomic_write_text
from miakit.backends.hf.digests import DigestCache
from miakit.errors import InvalidParameterError

#: Bumped whenever the facts or how they are derived change.
FACTS_FORMAT = 1
#: Files of a model folder that are weights, never read by a tokenizer.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".gguf", ".h5")
#: Libraries whose version can change how the same files tokenise.
_LIBRARIES = ("transformers", "tokenizers", "sentencepiece")


@dataclass(frozen=True)
class TokenizerFacts:
    """What a cached run needs from a tokenizer.

    Attributes:
        fingerprint: :func:`~miakit.backends.hf.files.fingerprint_tokenizer` of it.
        auto_lead: the lead ids of ``--bos auto`` (what it puts before a text).
        bos_token_id: its BOS id (the lead of ``--bos always``), or ``None``.
    """

    fingerprint: str
    auto_lead: tuple[int, ...]
    bos_token_id: int | None

    def lead_ids(self, bos: str, name: str) -> list[int]:
        """:func:`lead_ids_of` from these facts (the same values, the same errors)."""
        return _lead(bos, name, lambda: self.bos_token_id, lambda: list(self.auto_lead))


def facts_of(tokenizer: Any) -> TokenizerFacts:
    """The :class:`TokenizerFacts` of a loaded tokenizer."""
    from miakit.backends.hf.files import fingerprint_tokenizer

    bos = getattr(tokenizer, "bos_token_id", None)
    return TokenizerFacts(
        fingerprint=fingerprint_tokenizer(tokenizer),
        auto_lead=tuple(lead_ids_of(tokenizer, "auto", "model")),
        bos_token_id=None if bos is None else int(bos),
    )


def lead_ids_of(tokenizer: Any, bos: str, name: str) -> list[int]:
    """Special ids before every input, for ``tokenizer`` of model ``name``.

    ``auto``: whatever the tokenizer itself puts before a text (its BOS, if it adds one);
    ``always``: the tokenizer's BOS token (error if it has none); ``never``: nothing.
    """

    def auto() -> list[int]:
        probe = "a"
        with_special = tokenizer(probe, add_special_tokens=True)["input_ids"]
        without = tokenizer(probe, add_special_tokens=False)["input_ids"]
        for start in range(len(with_special) - len(without) + 1):
            if with_special[start : start + len(without)] == without:
                return [int(i) for i in with_special[:start]]
        return []

    return _lead(bos, name, lambda: getattr(tokenizer, "bos_token_id", None), auto)


def _lead(bos: str, name: str, bos_id: Any, auto: Any) -> list[int]:
    if bos == "never":
        return []
    if bos == "always":
        value = bos_id()
        if value is None:
            raise InvalidParameterError(
                f"--bos always: the tokenizer of {name!r} has no BOS token; use --bos auto or never"
            )
        return [int(value)]
    if bos != "auto":
        raise InvalidParameterError(f"bos must be 'auto', 'always' or 'never', got {bos!r}")
    return list(auto())


def tokenizer_file_names(folder: Path) -> list[str]:
    """The files of ``folder`` a tokenizer may read: every file that is not a weight file."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and not p.name.endswith(_WEIGHT_SUFFIXES) and not p.name.startswith(".")
    )


def _version(library: str) -> str | None:
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return None


class FactsStore:
    """The :class:`TokenizerFacts` records of one model folder under ``root``.

    Args:
        folder: the model folder.
        root: the fingerprint cache folder (records go to ``root/tokenizers``); ``None``
            keeps no record.
    """

    def __init__(self, folder: Path, root: Path | None) -> None:
        self.folder = folder
        self.root = root
        self._key: str | None = None

    @property
    def key(self) -> str:
        """The hash of the tokenizer files' bytes and the tokenising libraries' versions."""
        if self._key is None:
            names = tokenizer_file_names(self.folder)
            digests = DigestCache(self.root).digests([self.folder / n for n in names])
            blob = json.dumps(
                {
                    "format": FACTS_FORMAT,
                    "files": dict(zip(names, digests, strict=True)),
                    "versions": {lib: _version(lib) for lib in _LIBRARIES},
                },
                sort_keys=True,
            )
            self._key = hashlib.sha256(blob.encode()).hexdigest()
        return self._key

    def path(self) -> Path | None:
        """Where the record is, or ``None`` without a root."""
        return None if self.root is None else self.root / "tokenizers" / f"{self.key}.json"

    def read(self) -> TokenizerFacts | None:
        """The recorded facts, or ``None`` (no root, no record, or one that does not parse)."""
        path = self.path()
        if path is None:
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing or damaged: derived again and rewritten
            return None
        try:
            if record["format"] != FACTS_FORMAT or record["key"] != self.key:
                return None
            bos = record["bos_token_id"]
            facts = TokenizerFacts(
                fingerprint=str(record["fingerprint"]),
                auto_lead=tuple(int(i) for i in record["auto_lead"]),
                bos_token_id=None if bos is None else int(bos),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return facts

    def write(self, facts: TokenizerFacts) -> None:
        """Record ``facts`` (atomically; a read-only or full cache keeps none)."""
        path = self.path()
        if path is None:
            return
        record = {"format": FACTS_FORMAT, "key": self.key, **asdict(facts)}
        record["auto_lead"] = list(facts.auto_lead)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        except OSError:
            pass


__all__ = [
    "FACTS_FORMAT",
    "FactsStore",
    "TokenizerFacts",
    "facts_of",
    "lead_ids_of",
    "tokenizer_file_names",
]
