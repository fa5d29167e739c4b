"""Fixtures for report tests: synthetic run folders and a headless Chromium.

A synthetic run folder has the files ``miakit run`` writes (``metrics.json``,
``scores.parquet``, ``samples.parquet``) with metrics computed by :func:`miakit.metrics.evaluate`
from made-up scores, so tests control which samples the report shows. It contains hostile
sample texts and ids, which the report must show as text and never run. Tests get the names
and strings involved from the ``synth`` fixture (a conftest cannot be imported by name here:
``tests/`` is on the path and holds another ``conftest.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from miakit.metrics import evaluate

SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = '<img src=x onerror="window.__pwned=2">'
HOSTILE_ID = 'id"><b>bold'
ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus", "reference", "lowercase")
BLIND = ("bag_of_words", "char_ngrams")

_WORDS = [
    *["the", "model", "data", "training", "text", "sample", "member", "language", "token"],
    *["probability", "inference", "privacy", "attack", "score", "river", "mountain", "vote"],
    *["committee", "bread", "yeast", "glacier", "valley", "tax", "april", "capital", "moon"],
    *["france", "quantum", "interaction", "strong", "slowly", "wild", "thousands", "years"],
]


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    """Made-up sentences; every seventh text is 1, 12, 40 or 160 words (paragraphs of 40)."""
    out = []
    for i in range(n):
        n_words = int(rng.choice([1, 12, 40, 160])) if i % 7 == 0 else int(rng.integers(8, 60))
        words = [str(w) for w in rng.choice(_WORDS, size=n_words)]
        paragraphs = [" ".join(words[j : j + 40]) for j in range(0, n_words, 40)]
        out.append(".\n\n".join(p.capitalize() for p in paragraphs) + ".")
    return out


def build_run_dir(
    path: Path,
    *,
    n_per_class: int = 150,
    attacks: Sequence[str] = ATTACKS,
    blind: Sequence[str] = BLIND,
    n_resamples: int = 100,
    seed: int = 0,
    warnings: Sequence[str] = (),
) -> Path:
    """Write a synthetic run folder to ``path`` and return ``path``.

    Members score higher than non-members by an attack-specific margin. Sample 0 (a member)
    has the text :data:`SCRIPT_TEXT` and the lowest score of every attack; the last sample (a
    non-member) has id :data:`HOSTILE_ID`, text :data:`IMG_TEXT` and the highest score, so
    both appear in the sample explorer. The shortest text is unscored (NaN) by ``min_k*``.
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_per_class
    labels = np.r_[np.ones(n_per_class, dtype=np.int64), np.zeros(n_per_class, dtype=np.int64)]
    ids = [f"m{i}" for i in range(n_per_class)] + [f"n{i}" for i in range(n_per_class)]
    ids[-1] = HOSTILE_ID
    texts = _texts(rng, n)
    texts[0], texts[-1] = SCRIPT_TEXT, IMG_TEXT
    texts[n_per_class + 1] = texts[1]  # one overlap: m1 == n1
    short = n_per_class + 3
    texts[short] = "Ok"
    label_names = np.where(labels == 1, "member", "nonmember")

    scores = pd.DataFrame({"id": ids, "label": label_names})
    nan_reasons: dict[str, list[str | None]] = {}
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate([*attacks, *blind]):
        margin = 0.2 + 1.6 * j / max(1, len(attacks) + len(blind) - 1)
        s = rng.normal(size=n) + margin * labels
        s[0], s[-1] = s.min() - 1.0, s.max() + 1.0
        reasons: list[str | None] = [None] * n
        if name.startswith("min_k"):
            s[short] = np.nan
            reasons[short] = f"too short for {name} k=0.2: 1 scored tokens, needs at least 5"
        columns[name] = s
        nan_reasons[name] = reasons
    for name in attacks:
        scores[name] = columns[name]
    blind_scores = pd.DataFrame({"id": ids, "label": label_names})
    for name in blind:  # the runner keeps them apart, in blind_scores.parquet
        blind_scores[name] = columns[name]

    def ev(name: str) -> dict[str, Any]:
        return evaluate(columns[name], labels, n_resamples=n_resamples, seed=seed)

    attack_metrics = {name: ev(name) for name in attacks}
    truncated = [ids[i] for i in range(n) if len(texts[i]) > 700]
    samples_section = {
        "n_members": n_per_class,
        "n_nonmembers": n_per_class,
        "n_unknown": 0,
        "n_overlaps": 1,
        "overlaps": [{"member_id": "m1", "nonmember_id": "n1"}],
        "n": n,
        "truncated": {"target:plain": truncated},
        "n_truncated": {"target:plain": len(truncated)},
        "nan": {
            name: [{"id": ids[i], "reason": r} for i, r in enumerate(nan_reasons[name]) if r]
            for name in attacks
        },
    }
    metrics: dict[str, Any] = {
        "miakit_version": "0.1.0",
        "setup": {
            "miakit_version": "0.1.0",
            "created": "2026-01-01T00:00:00+00:00",
            "model": "/models/target-7b",
            "reference": "/models/reference-1b",
            "members": "/data/members.jsonl",
            "nonmembers": "/data/nonmembers.jsonl",
            "data": None,
            "n_members": n_per_class,
            "n_nonmembers": n_per_class,
            "n_unknown": 0,
            "split": "given",
            "seed": seed,
            "n_bootstrap": n_resamples,
            "max_length": 128,
            "bos": "auto",
        },
        "attacks": attack_metrics,
        "skipped_attacks": {},
        "models": {
            "target": {"name": "/models/target-7b", "fingerprint": "ab" * 32, "device": "cpu"}
        },
        "samples": samples_section,
        "warnings": [
            "1 text(s) appear among both members and non-members; they were scored because "
            "of --allow-overlap",
            *[
                f"{k}: {m['n_nan']} sample(s) have no score (NaN)"
                for k, m in attack_metrics.items()
                if m["n_nan"]
            ],
            *warnings,
        ],
    }
    metrics["overlap"] = {
        "n_exact": 1,
        "n_near": 1,
        "pairs": [
            {"member_id": "m1", "nonmember_id": "n1", "containment": 1.0, "kind": "exact"},
            {"member_id": "m2", "nonmember_id": "n2", "containment": 0.62, "kind": "near"},
        ],
        "pairs_truncated": False,
        "n": 13,
        "threshold": 0.5,
        "n_nonmembers": n_per_class,
        "n_nonmembers_with_duplicate": 2,
        "fraction_nonmembers": 2 / n_per_class,
        "n_skipped": 0,
        "skipped": [],
    }
    if blind:
        metrics["blind"] = {name: ev(name) for name in blind}
        best = max(blind, key=lambda b: metrics["blind"][b]["auroc"])
        m = metrics["blind"][best]
        warning = (
            f"blind baseline {best!r} separates members from non-members with AUROC "
            f"{m['auroc']:.3f} without any model"
        )
        metrics["blind_summary"] = {
            "best": best,
            "best_auroc": m["auroc"],
            "best_auroc_ci": m["auroc_ci"],
            "warning": warning,
            "n_folds": 5,
            "notes": [],
        }
        metrics["warnings"].insert(0, warning)

    per_sample = pd.DataFrame(
        {
            "id": ids,
            "label": label_names,
            "source": [f"members.jsonl:{i + 1}" for i in range(n_per_class)]
            + [f"nonmembers.jsonl:{i + 1}" for i in range(n_per_class)],
            "text": texts,
            "group": [None] * n,
            "doc_id": [None] * n,
            "n_text_tokens": [len(t) // 4 + 1 for t in texts],
            "n_scored_tokens": [min(len(t) // 4, 127) for t in texts],
            "truncated": [len(t) > 700 for t in texts],
        }
    )
    for name in attacks:
        per_sample[f"nan_reason:{name}"] = nan_reasons[name]
    path.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(path / "scores.parquet", index=False)
    if blind:
        blind_scores.to_parquet(path / "blind_scores.parquet", index=False)
    per_sample.to_parquet(path / "samples.parquet", index=False)
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2), "utf-8")
    return path


@pytest.fixture(scope="session")
def synth() -> SimpleNamespace:
    """What a default synthetic run folder holds: attack names and the hostile strings."""
    return SimpleNamespace(
        attacks=ATTACKS,
        blind=BLIND,
        script_text=SCRIPT_TEXT,
        img_text=IMG_TEXT,
        hostile_id=HOSTILE_ID,
    )


@pytest.fixture(scope="session")
def make_run_dir(tmp_path_factory) -> Callable[..., Path]:
    """``make_run_dir(**options)``: a new synthetic run folder (see :func:`build_run_dir`)."""

    def make(**options: Any) -> Path:
        return build_run_dir(tmp_path_factory.mktemp("run"), **options)

    return make


@pytest.fixture(scope="session")
def run_dir(make_run_dir) -> Path:
    """A synthetic run folder with six attacks, two blind baselines and hostile samples."""
    return make_run_dir()


# --- headless Chromium ------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _ensure_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver if missing; the reason if impossible."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None:
        return "chromium is not installed and apt-get is not available"
    try:
        proc = subprocess.run(
            "apt-get update -qq && apt-get install -y -qq chromium chromium-driver",
            shell=True,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "installing chromium with apt-get timed out"
    if proc.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"could not install chromium and chromium-driver with apt-get: {' | '.join(tail)}"
    return None


@pytest.fixture(scope="session")
def browser(tmp_path_factory) -> Iterator[Any]:
    """A headless Chromium driven by Selenium through Debian's chromedriver.

    The driver path is given explicitly, so Selenium Manager never downloads a driver or a
    browser; the flags keep Chromium off the network (no updates, sync or background fetches).
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    reason = _ensure_chromium()
    if reason is not None:
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-quic",
        "--no-first-run",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
