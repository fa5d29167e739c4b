"""recall, con_recall, dc_pdd, neighborhood and the token_id statistic, end to end, against an
independent fp64 recomputation from full logits (tiny random Llama, one unbatched pass per
input), with and without a BOS token.

The prefix is masked: only the text's tokens are scored, the first one predicted from the
prefix. One check recomputes ReCaLL with prefix + text tokens scored and shows that it would
give other numbers.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import miakit
from auxmodels import scored_log_probs, write_jsonl
from miakit.backends.hf import HFTokenScorer
from tinymodels import build_llama, build_tokenizer

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
AUX_NONMEMBERS = [
    "Owls hunt at night.",
    "Tax forms are due in April.",
    "A lemon cake needs eggs.",
    "Trains run late on Sundays.",
]
AUX_MEMBERS = [
    "the cat sat on the mat",
    "A language model assigns probabilities.",
    "Membership inference asks a question.",
    "Bees make honey.",
]
CORPUS = ["the dog sat on the log and the cat sat on the mat", "Berlin is a city in Germany."]
NEIGHBORS = {t: [t.replace("the", "a", 1), t.upper(), t + " Indeed."] for t in MEMBERS}
NEIGHBORS[NONMEMBERS[0]] = [NONMEMBERS[0].lower()]
A = 0.05  # DC-PDD clip: some tokens clipped, some not


class FixedPerturber:
    @property
    def identity(self):
        return {"kind": "fixed"}

    def neighbors(self, texts, m, seed):
        return [NEIGHBORS.get(t, [])[:m] for t in texts]


def mean(values):
    return sum(values) / len(values)


@pytest.mark.parametrize("bos", [True, False])
def test_auxiliary_attacks_match_fp64_full_logits(tmp_path, bos) -> None:
    tok = build_tokenizer(bos=bos)
    model = build_llama(len(tok))
    write_jsonl(tmp_path / "m.jsonl", MEMBERS, "m")
    write_jsonl(tmp_path / "n.jsonl", NONMEMBERS, "n")
    write_jsonl(tmp_path / "an.jsonl", AUX_NONMEMBERS, "an")
    write_jsonl(tmp_path / "am.jsonl", AUX_MEMBERS, "am")
    write_jsonl(tmp_path / "corpus.jsonl", CORPUS, "c")
    result = miakit.run(
        members=str(tmp_path / "m.jsonl"),
        nonmembers=str(tmp_path / "n.jsonl"),
        aux_nonmembers=str(tmp_path / "an.jsonl"),
        aux_members=str(tmp_path / "am.jsonl"),
        frequency_corpus=str(tmp_path / "corpus.jsonl"),
        recall_shots=3,
        recall_separator=" ",
        neighbors=3,
        attacks=["recall", "con_recall", "dc_pdd", "neighborhood"],
        attack_params={"dc_pdd": {"a": A}},
        scorers={"target": HFTokenScorer(model, tok, name="target")},
        perturber=FixedPerturber(),
        no_cache=True,
        write=False,
        echo=False,
        progress=False,
        n_bootstrap=10,
    )
    lead = [0] if bos else []
    prefixes = result.metrics["auxiliary"]["prefixes"]
    aux_text = {f"an{i}": t for i, t in enumerate(AUX_NONMEMBERS)}
    aux_text |= {f"am{i}": t for i, t in enumerate(AUX_MEMBERS)}
    prefix_ids = {
        name: tok(" ".join(aux_text[i] for i in p["shot_ids"]), add_special_tokens=False).input_ids
        for name, p in prefixes.items()
    }
    assert [len(p["shot_ids"]) for p in prefixes.values()] == [3, 3]

    counts = Counter(i for d in CORPUS for i in tok(d, add_special_tokens=False).input_ids)
    n_tok, vocab = sum(counts.values()), len(tok)

    def freq(i: int) -> float:
        return (counts.get(i, 0) + 1) / (n_tok + vocab)

    def ll(ids, head):
        """Mean log-likelihood of ``ids`` after the prefix ``head`` (head tokens never scored)
        over the common span: without BOS the plain context cannot score text token 0, so
        the prefixed mean leaves it out too."""
        return mean(scored_log_probs(model, head + ids, len(head) + (0 if lead else 1)))

    plain_ids = result.tables[("target", "plain")].rows("token_id")
    for i, text in enumerate(MEMBERS + NONMEMBERS):
        ids = tok(text, add_special_tokens=False).input_ids
        first = max(1, len(lead))
        lp = scored_log_probs(model, lead + ids, first)
        ll_plain = mean(lp)
        ll_nm = ll(ids, lead + prefix_ids["recall_nonmember"])
        ll_m = ll(ids, lead + prefix_ids["recall_member"])
        # token_id: the ids of exactly the scored tokens
        np.testing.assert_array_equal(plain_ids[i], (lead + ids)[first:])
        seen, alphas = set(), []
        for t, logp in zip((lead + ids)[first:], lp, strict=True):
            if t not in seen:
                seen.add(t)
                alphas.append(min(math.exp(logp) * math.log(1 / freq(t)), A))
        hood = [
            mean(scored_log_probs(model, lead + tok(n, add_special_tokens=False).input_ids, first))
            for n in NEIGHBORS.get(text, [])
        ]
        expected = {
            "recall": ll_nm / ll_plain,
            "con_recall": (ll_nm - 1.0 * ll_m) / ll_plain,
            "dc_pdd": mean(alphas),
            "neighborhood": (-mean(hood) + ll_plain) if hood else float("nan"),
        }
        for attack, value in expected.items():
            got = result.scores[attack].iloc[i]
            if math.isnan(value):
                assert math.isnan(got), (attack, text)
                assert "no neighbor" in result.outputs[attack].reasons[i]
            else:
                np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-5, err_msg=attack)

        # the prefix is masked: scoring prefix + text tokens would give another score
        head = lead + prefix_ids["recall_nonmember"]
        unmasked = mean(scored_log_probs(model, head + ids, max(1, len(lead)))) / ll_plain
        tolerance = 1e-4 * abs(expected["recall"]) + 1e-5  # the parity tolerance above
        assert abs(result.scores["recall"].iloc[i] - unmasked) > 20 * tolerance
        got_table = result.tables[("target", "recall_nonmember")]
        assert got_table.n_scored[i] == len(ids)  # every text token, predicted from the prefix
