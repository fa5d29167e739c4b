#!/usr/bin/env bash
# Multi-GPU check (device tool): a sharded `miakit run` under torchrun on 2 GPUs must give the
# same scores as a single-process run. Builds a tiny random model folder and data on the fly.
set -euo pipefail
work=$(mktemp -d)
python - "$work" <<'PY'
import json, sys
sys.path.insert(0, "tests")
from tinymodels import build_llama, build_tokenizer
w = sys.argv[1]
tok = build_tokenizer(bos=True)
model = build_llama(len(tok))
model.save_pretrained(f"{w}/model"); tok.save_pretrained(f"{w}/model")
for name in ("m", "n"):
    with open(f"{w}/{name}.jsonl", "w") as f:
        for i in range(300):
            f.write(json.dumps({"id": f"{name}{i}", "text": f"text {name} {i} " * (1 + i % 7)}) + "\n")
PY
args=(run --model "$work/model" --members "$work/m.jsonl" --nonmembers "$work/n.jsonl"
      --no-cache --no-progress --n-bootstrap 100 --no-blind --attacks loss,min_k,min_k_plus_plus)
torchrun --standalone --nproc_per_node 2 -m miakit "${args[@]}" --out "$work/sharded" --shard-size 64
python -m miakit "${args[@]}" --out "$work/single" --device cuda:0
python - "$work" <<'PY'
import sys, pandas as pd, numpy as np
w = sys.argv[1]
a = pd.read_parquet(f"{w}/sharded/scores.parquet"); b = pd.read_parquet(f"{w}/single/scores.parquet")
assert list(a.id) == list(b.id)
d = max(float(np.nanmax(np.abs(a[c] - b[c]))) for c in ("loss", "min_k", "min_k_plus_plus"))
print("torchrun 2-GPU sharded vs single process: max |score diff| =", d)
PY
