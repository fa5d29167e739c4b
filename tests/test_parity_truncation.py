"""Attacks that compare two scorings of one text, when ``max_length`` truncates the text.

A prefix (ReCaLL shots) leaves less room for the text than the plain context, a lowercased
text tokenizes differently, a reference model may use another tokenizer: truncated, the two
scorings end at different places of the text. These tests pin the policy, against an
independent fp64 recomputation from full logits of a tiny random Llama:

* ``recall`` / ``con_recall`` average every context over the *common span*: the text tokens
  scored in every context the attack reads (aligned by text-token index); no common token ->
  NaN with a reason.
* ``zlib`` divides by the zlib length of the characters the kept tokens cover.
* ``lowercase`` / ``reference`` / ``reference_ratio``: NaN with a reason unless both scorings
  cover the same characters of the text.
"""

from __future__ import annotations

import math
import zlib as _zlib

import numpy as np
import pytest

import miakit
from auxmodels import scored_log_probs, write_jsonl
from miakit.attacks import SignalView, default_registry
from miakit.backends.hf import HFTokenScorer
from miakit.signals.engine import SignalEngine
from miakit.signals.spec import Context
from tinymodels import build_gpt2, build_llama, build_tokenizer

MAX_LENGTH = 40
# token counts (tiny BPE): 27, 25, 41, 52, 40, 2 -- some fit alone but not after a prefix,
# some are truncated even alone
MEMBERS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France; Berlin is the capital of Germany.",
    "In 1969, humans first walked on the Moon, and the world watched.",
]
NONMEMBERS = [
    "Sourdough bread rises slowly because of wild yeast in the starter.",
    "The committee postponed the vote until next spring.",
    "Hi",
]
AUX_NONMEMBERS = ["Owls hunt at night.", "Tax forms are due in April."]
AUX_MEMBERS = ["the cat sat on the mat", "Membership inference asks a question."]
TOL = {"rtol": 1e-4, "atol": 1e-5}


def mean(values):
    return sum(values) / len(values)


def span_ll(model, head, ids, span):
    """Mean log p(ids[j] | head + ids[:j]) over text-token indices ``span`` (fp64)."""
    seq = head + ids[: span.stop]
    lp = scored_log_probs(model, seq, 1)  # lp[t - 1] = log p(seq[t] | seq[:t])
    return mean([lp[len(head) + j - 1] for j in span])


def kept_span(head, n_ids):
    """Text-token indices scored under ``head`` (the documented engine policy)."""
    kept = min(n_ids, MAX_LENGTH - len(head))
    return range(0 if head else 1, kept)


def common(spans):
    return range(max(s.start for s in spans), min(s.stop for s in spans))


@pytest.mark.parametrize("bos", [True, False])
def test_recall_and_con_recall_score_the_common_span(tmp_path, bos) -> None:
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok))
    write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    write_jsonl(tmp_path / "an.jsonl", AUX_NONMEMBERS, "an")
    write_jsonl(tmp_path / "am.jsonl", AUX_MEMBERS, "am")
    result = miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        aux_nonmembers=str(tmp_path / "an.jsonl"),
        aux_members=str(tmp_path / "am.jsonl"),
        recall_shots=1,
        max_length=MAX_LENGTH,
        attacks=["recall", "con_recall"],
        scorers={"target": HFTokenScorer(model, tok, name="target")},
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
    )
    lead = [0] if bos else []
    aux_text = {f"an{i}": t for i, t in enumerate(AUX_NONMEMBERS)}
    aux_text |= {f"am{i}": t for i, t in enumerate(AUX_MEMBERS)}
    heads = {"plain": lead}
    for name, p in result.metrics["auxiliary"]["prefixes"].items():
        shots = "".join(aux_text[i] for i in p["shot_ids"])
        heads[name] = lead + tok(shots, add_special_tokens=False).input_ids
    assert len(heads["recall_member"]) != len(heads["recall_nonmember"])

    n_cut_by_prefix = 0
    for i, text in enumerate(result.samples.texts):
        ids = tok(text, add_special_tokens=False).input_ids
        spans = {c: kept_span(h, len(ids)) for c, h in heads.items()}
        n_cut_by_prefix += (
            len(ids) + len(lead) <= MAX_LENGTH < len(ids) + len(heads["recall_member"])
        )
        for attack, contexts in (
            ("recall", ("plain", "recall_nonmember")),
            ("con_recall", ("plain", "recall_nonmember", "recall_member")),
        ):
            span = common([spans[c] for c in contexts])
            got = result.scores[attack].iloc[i]
            if not len(span):
                assert math.isnan(got), (attack, text)
                assert "--max-length" in result.outputs[attack].reasons[i]
                continue
            ll = {c: span_ll(model, heads[c], ids, span) for c in contexts}
            if attack == "recall":
                expected = ll["recall_nonmember"] / ll["plain"]
            else:
                expected = (ll["recall_nonmember"] - ll["recall_member"]) / ll["plain"]
            np.testing.assert_allclose(got, expected, **TOL, err_msg=f"{attack} {text}")
    assert n_cut_by_prefix >= 2  # the case this test is about did occur


def test_empty_common_span_is_nan_with_reason() -> None:
    """No BOS: the plain context cannot score text token 0; a prefix that leaves room for one
    text token scores only token 0, so the two share no token."""
    tok = build_tokenizer(bos=False)
    model = build_llama(len(tok))
    engine = SignalEngine(HFTokenScorer(model, tok), progress=False, max_length=12)
    prefix = "the cat sat on the mat and"
    assert len(tok(prefix, add_special_tokens=False).input_ids) == 11
    texts = ["the cat sat on the mat", "Hi"]
    tables = {
        ("target", "plain"): engine.compute(texts, stats=["token_log_prob"]),
        ("target", "recall_nonmember"): engine.compute(
            texts, stats=["token_log_prob"], context=Context("recall_nonmember", prefix=prefix)
        ),
    }
    out = default_registry().get("recall")(SignalView(tables))
    assert np.isnan(out.scores).all()
    for reason in out.reasons:
        assert "common" in reason and "--max-length" in reason and "shots" in reason


def _run_pairs(tmp_path, reference_tok, reference_model):
    tok = build_tokenizer(bos=True)
    model = build_llama(len(tok))
    write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    result = miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        max_length=MAX_LENGTH,
        attacks=["zlib", "lowercase", "reference", "reference_ratio"],
        scorers={
            "target": HFTokenScorer(model, tok, name="target"),
            "reference": HFTokenScorer(reference_model, reference_tok, name="ref"),
        },
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
    )
    return tok, model, result


def covered(tok, text, lead_len):
    """(kept token ids, characters they cover) of ``text`` truncated to MAX_LENGTH."""
    ids = tok(text, add_special_tokens=False).input_ids
    kept = ids[: MAX_LENGTH - lead_len]
    decoded = tok.decode(kept)
    assert text.startswith(decoded)  # ASCII texts: decoding a prefix gives a prefix
    return kept, len(decoded)


@pytest.mark.parametrize("same_tokenizer", [True, False])
def test_zlib_lowercase_reference_under_truncation(tmp_path, same_tokenizer) -> None:
    if same_tokenizer:
        ref_tok = build_tokenizer(bos=True)
        ref_model, ref_lead = build_llama(len(ref_tok), seed=5), [0]
    else:
        ref_tok = build_tokenizer(bos=False, vocab_size=300)
        ref_model, ref_lead = build_gpt2(len(ref_tok)), []
    tok, model, result = _run_pairs(tmp_path, ref_tok, ref_model)
    n_truncated = 0
    for i, text in enumerate(result.samples.texts):
        kept, chars = covered(tok, text, 1)
        lower_kept, lower_chars = covered(tok, text.lower(), 1)
        ref_kept, ref_chars = covered(ref_tok, text, len(ref_lead))
        truncated = chars < len(text)
        n_truncated += truncated
        ll = mean(scored_log_probs(model, [0, *kept], 1))
        # zlib: the compressed length of exactly the characters that were scored
        expected_zlib = ll / len(_zlib.compress(text[:chars].encode("utf-8")))
        np.testing.assert_allclose(result.scores["zlib"].iloc[i], expected_zlib, **TOL)
        # lowercase: finite only where both scorings cover the same characters
        got = result.scores["lowercase"].iloc[i]
        if lower_chars == chars:
            ll_lower = mean(scored_log_probs(model, [0, *lower_kept], 1))
            np.testing.assert_allclose(got, ll_lower / ll, **TOL)
        else:
            assert math.isnan(got) and "--max-length" in result.outputs["lowercase"].reasons[i]
        for attack in ("reference", "reference_ratio"):
            got = result.scores[attack].iloc[i]
            if ref_chars == chars:
                ll_ref = mean(scored_log_probs(ref_model, ref_lead + ref_kept, 1))
                expected = ll - ll_ref if attack == "reference" else -ll / ll_ref
                np.testing.assert_allclose(got, expected, **TOL, err_msg=attack)
            else:
                assert truncated or ref_chars < len(text)
                assert math.isnan(got) and "--max-length" in result.outputs[attack].reasons[i]
    assert n_truncated >= 2
    if same_tokenizer:  # same tokenizer, same truncation: the reference scores stay finite
        assert np.isfinite(result.scores["reference"]).all()
    else:
        assert np.isnan(result.scores["reference"]).sum() >= 2
