"""Every attack, end to end, against an independent fp64 recomputation from full logits.

The tiny target (Llama, BOS tokenizer) and reference (GPT-2, another tokenizer without BOS)
are random-initialised in the test; the expected scores below are written from the papers'
formulas with plain Python and fp64 logits of one unbatched forward pass per text.
"""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import torch

import miakit
from miakit.attacks import default_registry
from miakit.backends.hf import HFTokenScorer
from tinymodels import build_gpt2, build_llama, build_tokenizer

MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon, and the world watched.",
    "Ünïcode ✓ and Mixed CASE Words make the lowercase attack non-trivial.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast in the starter.",
    "The committee postponed the vote until next spring.",
    "Hi",
    "Glaciers carve VALLEYS over thousands of years.",
]


def full_logit_stats(model, ids, first):
    with torch.no_grad():
        logits = model.double()(torch.tensor([ids])).logits[0]
    model.float()
    rows = []
    for t in range(first, len(ids)):
        logp = torch.log_softmax(logits[t - 1], -1)
        p = logp.exp()
        mu = float((p * logp).sum())
        var = float((p * (logp - mu) ** 2).sum())
        rank = int((logits[t - 1] > logits[t - 1][ids[t]]).sum())
        rows.append((float(logp[ids[t]]), mu, var, rank))
    return rows


def token_logprobs(model, tok, text, bos):
    ids = ([0] if bos else []) + tok(text, add_special_tokens=False).input_ids
    return full_logit_stats(model, ids, 1)


def mink(values, k):
    n = int(len(values) * k)
    return float("nan") if n == 0 else sum(sorted(values)[:n]) / n


def test_every_attack_matches_fp64_full_logits(tmp_path):
    tok = build_tokenizer(bos=True)
    target = build_llama(len(tok))
    ref_tok = build_tokenizer(bos=False, vocab_size=300)
    reference = build_gpt2(len(ref_tok))
    for name, texts in (("m", MEMBERS), ("n", NONMEMBERS)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps({"id": f"{name}{i}", "text": t}) + "\n" for i, t in enumerate(texts))
        )
    result = miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        scorers={
            "target": HFTokenScorer(target, tok, name="target"),
            "reference": HFTokenScorer(reference, ref_tok, name="reference"),
        },
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
    )
    # every attack runs or is skipped for a missing input; those needing a second model that
    # shares the target's tokenizer are checked in test_parity_two_models.py
    ran, skipped = set(result.outputs), set(result.metrics["skipped_attacks"])
    assert ran | skipped == set(default_registry().names())
    assert {"binoculars", "fast_detectgpt_ref"} <= skipped

    for i, text in enumerate(MEMBERS + NONMEMBERS):
        rows = token_logprobs(target, tok, text, True)
        lp = [r[0] for r in rows]
        nll = -sum(lp) / len(lp)
        low = [r[0] for r in token_logprobs(target, tok, text.lower(), True)]
        nll_low = -sum(low) / len(low)
        ref_lp = [r[0] for r in token_logprobs(reference, ref_tok, text, False)]
        nll_ref = -sum(ref_lp) / len(ref_lp) if ref_lp else float("nan")
        z = [(r[0] - r[1]) / math.sqrt(r[2]) for r in rows]
        windows = [sum(lp[j : j + 3]) / 3 for j in range(len(lp) - 2)]
        mus = [r[1] for r in rows]
        ranks = [r[3] for r in rows]
        expected = {
            "loss": -nll,
            "zlib": -nll / len(zlib.compress(text.encode("utf-8"))),
            "lowercase": nll_low / nll,
            "min_k": mink(lp, 0.2),
            "win_k": mink(windows, 0.2),
            "min_k_plus_plus": mink(z, 0.2),
            "reference": nll_ref - nll,
            "reference_ratio": -nll / nll_ref,
            "entropy": sum(mus) / len(mus),
            "rank": -sum(r + 1 for r in ranks) / len(ranks),
            "log_rank": -sum(math.log(r + 1) for r in ranks) / len(ranks),
            "fast_detectgpt": (sum(lp) - sum(mus)) / math.sqrt(sum(r[2] for r in rows)),
        }
        assert ran <= set(expected), "every attack that ran needs an fp64 parity check"
        for attack, value in expected.items():
            got = result.scores[attack].iloc[i]
            if math.isnan(value):
                assert math.isnan(got), (attack, text)
            else:
                np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-4, err_msg=attack)
