#!/usr/bin/env bash
# GPU end-to-end check (device tool): `miakit run` with every default attack on CUDA.
# 1. fp32 on CUDA equals fp32 on the CPU (the pipeline, pinned copies, prefix reuse on CUDA);
# 2. bf16 with --compile (packed varlen rows, fused prefix merge, compiled paired statistics)
#    scores every sample of every attack, and its scores track the fp32 ones.
# Builds tiny random GQA Llama folders and data on the fly.
set -euo pipefail
work=$(mktemp -d)
python - "$work" <<'PY'
import json, random, sys
sys.path.insert(0, "tests")
from tinymodels import build_llama, build_tokenizer
w = sys.argv[1]
tok = build_tokenizer(bos=True)
for name, seed in (("target", 0), ("other", 3)):
    build_llama(len(tok), seed=seed).save_pretrained(f"{w}/{name}"); tok.save_pretrained(f"{w}/{name}")
rng = random.Random(0)
words = "the of and to in a is that for it as was with be by on not this are or from at".split()
def text():
    return " ".join(rng.choice(words).title() if rng.random() < 0.2 else rng.choice(words)
                    for _ in range(rng.randint(5, 120)))
for name, n in (("m", 150), ("n", 150), ("aux_n", 20), ("aux_m", 20)):
    with open(f"{w}/{name}.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"{name}{i}", "text": f"{name} {i} " + text()}) + "\n")
PY
args=(run --model "$work/target" --reference "$work/other" --observer "$work/other"
      --sampling-model "$work/other" --members "$work/m.jsonl" --nonmembers "$work/n.jsonl"
      --aux-nonmembers "$work/aux_n.jsonl" --aux-members "$work/aux_m.jsonl"
      --no-cache --no-progress --n-bootstrap 50 --no-blind)
python -m miakit "${args[@]}" --out "$work/cpu" --device cpu
python -m miakit "${args[@]}" --out "$work/gpu32" --device cuda --dtype float32
python -m miakit "${args[@]}" --out "$work/gpu16" --device cuda --compile
python - "$work" <<'PY'
import sys, numpy as np, pandas as pd
w = sys.argv[1]
cpu, g32, g16 = (pd.read_parquet(f"{w}/{d}/scores.parquet") for d in ("cpu", "gpu32", "gpu16"))
cols = [c for c in cpu.columns if c not in ("id", "label")]
assert list(cpu.id) == list(g32.id) == list(g16.id)
print("attacks:", ", ".join(cols))
worst = max(float(np.nanmax(np.abs(cpu[c] - g32[c]) / (1 + np.abs(cpu[c])))) for c in cols)
print(f"fp32 CUDA vs CPU: max relative score difference {worst:.2e}")
for c in cols:
    assert g16[c].notna().all(), f"{c}: bf16 run left samples unscored"
    r = np.corrcoef(g32[c], g16[c])[0, 1] if g32[c].std() > 0 else float("nan")
    print(f"{c:22s} bf16+compile vs fp32: correlation {r:.4f}")
    assert not r < 0.95, f"{c}: bf16 scores do not track fp32 ones"
PY
