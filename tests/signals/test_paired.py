"""Paired statistics of two models sharing a tokenizer, against an fp64 recomputation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miakit.backends.hf import HFTokenScorer
from miakit.errors import InvalidParameterError
from miakit.signals import LOWERCASE, PLAIN, Context
from miakit.signals.cache import SignalCache
from miakit.signals.engine import SignalEngine
from miakit.signals.paired import PairedEngine, check_shared_tokenizer
from miakit.signals.plan import EngineOptions, SignalPlanner
from miakit.signals.spec import PAIRED_STATS, SignalRef
from tinymodels import build_gpt2, build_llama, build_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France",
    "a",
    "Ünïcode ✓ text, with more words so that it is the longest of all the texts here.",
    "In 1969, humans first walked on the Moon.",
    "x y",
]


def fp64_logits(model, ids):
    try:
        with torch.no_grad():
            return model.double()(torch.tensor([ids])).logits[0].double()
    finally:
        model.float()


def paired_reference(model_p, model_q, ids, first, vocab=None):
    """Obviously-correct fp64 paired statistics from the full logits of one unbatched input."""
    logits_p, logits_q = fp64_logits(model_p, ids), fp64_logits(model_q, ids)
    vocab = vocab or logits_p.shape[-1]
    out = {s: [] for s in PAIRED_STATS}
    for t in range(first, len(ids)):
        log_p = torch.log_softmax(logits_p[t - 1, :vocab], -1)
        q = torch.softmax(logits_q[t - 1, :vocab], -1)
        out["cross_mean_log_prob"].append(float((q * log_p).sum()))
        out["cross_second_moment"].append(float((q * log_p**2).sum()))
        # q's log-prob of the actual token, over q's whole head (not cut to the shared vocab)
        out["cross_token_log_prob"].append(float(torch.log_softmax(logits_q[t - 1], -1)[ids[t]]))
    return {k: np.array(v) for k, v in out.items()}


def check_parity(model_p, model_q, tok, texts, table, *, lead, context=PLAIN, vocab=None):
    prefix = tok(context.prefix, add_special_tokens=False).input_ids if context.prefix else []
    for i, text in enumerate(texts):
        ids = list(lead) + prefix + tok(context.apply(text), add_special_tokens=False).input_ids
        ref = paired_reference(model_p, model_q, ids, max(1, len(lead) + len(prefix)), vocab)
        for stat in table.stats:
            got = table.rows(stat)[i]
            assert got.shape == ref[stat].shape, (stat, i)
            np.testing.assert_allclose(got, ref[stat], atol=1e-4, rtol=1e-4, err_msg=stat)


def engines(model_p, model_q, tok, tok_q=None, **kwargs):
    ep = SignalEngine(HFTokenScorer(model_p, tok, name="p-model"), progress=False, **kwargs)
    eq = SignalEngine(
        HFTokenScorer(model_q, tok_q or tok, name="q-model"), progress=False, **kwargs
    )
    return ep, eq


@pytest.mark.parametrize("bos", [True, False])
@pytest.mark.parametrize("packing", ["padded", "packed"])
def test_paired_parity_with_fp64(bos, packing):
    tok = build_tokenizer(bos=bos)
    model_p, model_q = build_llama(len(tok), seed=0), build_llama(len(tok), seed=3)
    ep, eq = engines(model_p, model_q, tok, batch_tokens=48, packing=packing)
    table = PairedEngine(ep, eq, role="p@q").compute(TEXTS, stats=PAIRED_STATS)
    check_parity(model_p, model_q, tok, TEXTS, table, lead=[0] if bos else [])
    assert ep.n_forward_batches > 1 and eq.n_forward_batches == ep.n_forward_batches
    # the scored tokens are exactly those of p's own table
    own = ep.compute(TEXTS, stats=["token_log_prob"])
    np.testing.assert_array_equal(table.offsets, own.offsets)
    assert table.meta["log_prob_model"] == "p-model" and table.meta["weights_model"] == "q-model"


def test_paired_parity_under_a_prefix_context():
    tok = build_tokenizer(bos=True)
    model_p, model_q = build_llama(len(tok), seed=0), build_llama(len(tok), seed=3)
    ep, eq = engines(model_p, model_q, tok)
    ctx = Context("shots", prefix="The cat sat on the mat.")
    table = PairedEngine(ep, eq).compute(TEXTS, stats=["cross_mean_log_prob"], context=ctx)
    got = {"cross_mean_log_prob": table.rows("cross_mean_log_prob")}
    prefix = tok(ctx.prefix, add_special_tokens=False).input_ids
    for i, text in enumerate(TEXTS):
        ids = [0, *prefix, *tok(text, add_special_tokens=False).input_ids]
        ref = paired_reference(model_p, model_q, ids, 1 + len(prefix))
        np.testing.assert_allclose(
            got["cross_mean_log_prob"][i], ref["cross_mean_log_prob"], atol=1e-4, rtol=1e-4
        )


def test_a_model_paired_with_itself_gives_its_own_moments():
    tok = build_tokenizer(bos=True)
    ep = SignalEngine(HFTokenScorer(build_llama(len(tok)), tok), progress=False)
    table = PairedEngine(ep, ep).compute(TEXTS, stats=PAIRED_STATS)
    runs = ep.n_forward_batches  # one forward pass per unit, not two
    own = ep.compute(TEXTS, stats=["mean_log_prob", "var_log_prob"])
    assert ep.n_forward_batches == 2 * runs
    mu = own.flat("mean_log_prob")
    np.testing.assert_allclose(table.flat("cross_mean_log_prob"), mu, atol=1e-5, rtol=1e-5)
    var = table.flat("cross_second_moment").astype(np.float64) - mu.astype(np.float64) ** 2
    np.testing.assert_allclose(var, own.flat("var_log_prob"), atol=2e-3, rtol=1e-3)


def test_padded_heads_use_the_shared_vocabulary():
    tok = build_tokenizer(bos=True)
    model_p, model_q = build_llama(len(tok), seed=0), build_llama(len(tok) + 8, seed=3)
    ep, eq = engines(model_p, model_q, tok)
    assert check_shared_tokenizer(ep, eq) == len(tok)
    table = PairedEngine(ep, eq).compute(TEXTS, stats=PAIRED_STATS)
    check_parity(model_p, model_q, tok, TEXTS, table, lead=[0], vocab=len(tok))
    # the other way round: the padding of p's head is cut too
    table = PairedEngine(eq, ep).compute(TEXTS[:2], stats=PAIRED_STATS)
    check_parity(model_q, model_p, tok, TEXTS[:2], table, lead=[0], vocab=len(tok))


def test_a_head_smaller_than_the_tokenizer_is_refused():
    tok = build_tokenizer(bos=True)
    ep, eq = engines(build_llama(len(tok)), build_llama(len(tok) - 8, seed=3), tok)
    with pytest.raises(InvalidParameterError, match="cannot be compared"):
        PairedEngine(ep, eq)


def test_tokenizer_mismatch_names_both_models():
    tok, other = build_tokenizer(bos=True), build_tokenizer(bos=False, vocab_size=300)
    ep, eq = engines(build_llama(len(tok)), build_gpt2(len(other)), tok, other)
    with pytest.raises(InvalidParameterError) as err:
        PairedEngine(ep, eq, role="performer@observer")
    message = str(err.value)
    assert "'p-model' (performer)" in message and "'q-model' (observer)" in message
    assert "sharing a tokenizer" in message


def test_same_vocabulary_with_another_fingerprint_is_accepted_but_bos_must_match():
    tok = build_tokenizer(bos=True)
    relabelled = build_tokenizer(bos=True)
    relabelled.pad_token = "</s>"  # another pad id: another fingerprint, the same ids
    model_p, model_q = build_llama(len(tok)), build_llama(len(tok), seed=3)
    ep, eq = engines(model_p, model_q, tok, relabelled)
    assert ep.scorer.tokenizer_fingerprint != eq.scorer.tokenizer_fingerprint
    table = PairedEngine(ep, eq).compute(TEXTS[:2], stats=PAIRED_STATS)
    check_parity(model_p, model_q, tok, TEXTS[:2], table, lead=[0])
    ep, eq = engines(model_p, model_q, tok, build_tokenizer(bos=False))
    with pytest.raises(InvalidParameterError, match="BOS/lead ids differ"):
        PairedEngine(ep, eq)


def test_paired_cache_rerun_does_no_forward_pass_and_keys_on_both_models(tmp_path):
    tok = build_tokenizer(bos=True)
    model_p, model_q = build_llama(len(tok)), build_llama(len(tok), seed=3)
    ep, eq = engines(model_p, model_q, tok, cache=SignalCache(tmp_path))
    first = PairedEngine(ep, eq).compute(TEXTS, stats=PAIRED_STATS)

    def boom(*args, **kwargs):
        raise AssertionError("a forward pass ran although every text was cached")

    ep2, eq2 = engines(model_p, model_q, tok, cache=SignalCache(tmp_path))
    ep2.scorer.hidden_states = boom  # type: ignore[method-assign]
    eq2.scorer.hidden_states = boom  # type: ignore[method-assign]
    again = PairedEngine(ep2, eq2).compute(TEXTS[::-1], stats=["cross_second_moment"])
    for i, j in enumerate(reversed(range(len(TEXTS)))):
        np.testing.assert_array_equal(
            again.rows("cross_second_moment")[i], first.rows("cross_second_moment")[j]
        )
    # the single-model tables of p are not confused with the paired ones
    assert ep2.cache is not None
    assert not ep2.cache.lookup(ep2.namespace(PLAIN), ["x"], ["token_log_prob"])
    # another weighting model (or the pair reversed) never reads these rows
    ep3, eq3 = engines(model_p, build_llama(len(tok), seed=4), tok, cache=SignalCache(tmp_path))
    PairedEngine(ep3, eq3).compute(TEXTS[:1], stats=PAIRED_STATS)
    assert eq3.n_forward_batches == 1
    ep4, eq4 = engines(model_q, model_p, tok, cache=SignalCache(tmp_path))
    PairedEngine(ep4, eq4).compute(TEXTS[:1], stats=PAIRED_STATS)
    assert ep4.n_forward_batches == 1


def test_planner_resolves_aliases_on_both_sides():
    tok = build_tokenizer(bos=True)
    models = {"target": build_llama(len(tok)), "observer": build_llama(len(tok), seed=3)}
    loaded = []

    def scorer_for(role):
        loaded.append(role)
        return HFTokenScorer(models[role], tok, name=role)

    planner = SignalPlanner(
        scorer_for=scorer_for,
        options=EngineOptions(progress=False),
        aliases={"performer": "target"},
    )
    needs = [
        SignalRef.parse("performer/plain:token_log_prob"),
        SignalRef.parse("performer@observer/plain:cross_mean_log_prob"),
        SignalRef.parse("token_log_prob"),
    ]
    tables = planner.compute(TEXTS, needs)
    assert sorted(loaded) == ["observer", "target"]
    assert set(tables) == {
        ("performer", "plain"),
        ("performer@observer", "plain"),
        ("target", "plain"),
    }
    assert tables[("performer", "plain")] is tables[("target", "plain")]
    pair = tables[("performer@observer", "plain")]
    np.testing.assert_array_equal(pair.offsets, tables[("target", "plain")].offsets)
    check_parity(models["target"], models["observer"], tok, TEXTS, pair, lead=[0])


def test_planner_checks_tokenizers_before_any_forward_pass():
    tok, other = build_tokenizer(bos=True), build_tokenizer(bos=False, vocab_size=300)
    scorers = {
        "target": HFTokenScorer(build_llama(len(tok)), tok, name="tiny-llama"),
        "observer": HFTokenScorer(build_gpt2(len(other)), other, name="tiny-gpt2"),
    }
    planner = SignalPlanner(
        scorer_for=scorers.__getitem__,
        options=EngineOptions(progress=False),
        aliases={"performer": "target"},
    )
    needs = [
        SignalRef.parse("performer/plain:token_log_prob"),
        SignalRef.parse("performer@observer/plain:cross_mean_log_prob"),
    ]
    with pytest.raises(InvalidParameterError, match=r"'tiny-llama'.*'tiny-gpt2'"):
        planner.compute(TEXTS, needs)
    assert all(e.n_forward_batches == 0 for e in planner._engines.values())


def test_signal_refs_for_paired_roles():
    ref = SignalRef.parse("performer@observer/plain:cross_mean_log_prob")
    assert (ref.model, ref.context, ref.stat) == (
        "performer@observer",
        "plain",
        "cross_mean_log_prob",
    )
    assert str(ref) == "performer@observer/plain:cross_mean_log_prob"
    with pytest.raises(InvalidParameterError, match="paired model role"):
        SignalRef.parse("cross_mean_log_prob")  # the target alone has no paired statistics
    with pytest.raises(InvalidParameterError, match="single-model statistic"):
        SignalRef.parse("target@sampling_model/plain:token_log_prob")
    with pytest.raises(InvalidParameterError, match="invalid paired model role"):
        SignalRef.parse("a@b@c/plain:cross_mean_log_prob")
    with pytest.raises(InvalidParameterError, match="Did you mean 'cross_mean_log_prob'"):
        SignalRef.parse("target@sampling_model/plain:cross_mean_logprob")


@pytest.mark.parametrize("packing", ["padded", "packed"])
def test_fused_pass_gives_each_models_own_table(packing, tmp_path):
    tok = build_tokenizer(bos=True)
    model_p, model_q = build_llama(len(tok), seed=0), build_llama(len(tok), seed=3)
    cache = SignalCache(tmp_path / "cache")
    ep, eq = engines(model_p, model_q, tok, batch_tokens=48, packing=packing, cache=cache)
    own = ["token_log_prob", "mean_log_prob", "var_log_prob", "token_rank"]
    pair, tp, tq = PairedEngine(ep, eq, role="p@q").compute_with_own(
        TEXTS, stats=PAIRED_STATS, own_p=own, own_q=["token_log_prob"]
    )
    assert tp is not None and tq is not None
    runs_p, runs_q = ep.n_forward_batches, eq.n_forward_batches
    assert runs_p == runs_q > 1  # one pass per model per unit for all three tables
    # the same as each engine's own computation, which the fused pass cached for it
    sp, sq = engines(model_p, model_q, tok, batch_tokens=48, packing=packing)
    for table, engine, names in ((tp, sp, own), (tq, sq, ["token_log_prob"])):
        alone = engine.compute(TEXTS, stats=names)
        np.testing.assert_array_equal(table.offsets, alone.offsets)
        for name in names:
            np.testing.assert_allclose(table.flat(name), alone.flat(name), rtol=1e-5, atol=1e-5)
        assert table.meta == alone.meta
    check_parity(model_p, model_q, tok, TEXTS, pair, lead=[0])
    ep.compute(TEXTS, stats=own)
    eq.compute(TEXTS, stats=["token_log_prob"])
    assert (ep.n_forward_batches, eq.n_forward_batches) == (runs_p, runs_q)  # cache hits


def test_fused_pass_scores_only_what_some_table_lacks(tmp_path):
    tok = build_tokenizer(bos=True)
    model_p, model_q = build_llama(len(tok), seed=0), build_llama(len(tok), seed=3)
    cache = SignalCache(tmp_path / "cache")
    ep, eq = engines(model_p, model_q, tok, cache=cache)
    ep.compute(TEXTS[:3], stats=["token_log_prob"])  # p's table has the first three texts
    before = ep.n_forward_batches
    _, tp, _ = PairedEngine(ep, eq, role="p@q").compute_with_own(
        TEXTS, stats=PAIRED_STATS, own_p=["token_log_prob"]
    )
    assert ep.n_forward_batches > before  # the paired table lacked every text
    fresh, _ = engines(model_p, model_q, tok)
    alone = fresh.compute(TEXTS, stats=["token_log_prob"])
    assert tp is not None
    np.testing.assert_allclose(tp.flat("token_log_prob"), alone.flat("token_log_prob"), atol=1e-5)


def test_fusion_refused_under_a_prefix_and_for_a_model_paired_with_itself():
    tok = build_tokenizer(bos=True)
    ep, eq = engines(build_llama(len(tok)), build_llama(len(tok), seed=3), tok)
    engine = PairedEngine(ep, eq, role="p@q")
    prefix = Context("shots", prefix="Some shots. ")
    assert not engine.can_fuse(prefix, weights_model=False)
    assert engine.can_fuse(PLAIN, weights_model=True)
    assert not PairedEngine(ep, ep, role="p@p").can_fuse(PLAIN, weights_model=True)
    with pytest.raises(InvalidParameterError, match="cannot come from the paired pass"):
        engine.compute_with_own(TEXTS, stats=PAIRED_STATS, own_p=["token_log_prob"], context=prefix)
    with pytest.raises(InvalidParameterError, match="own stats must be a subset"):
        engine.compute_with_own(TEXTS, stats=PAIRED_STATS, own_q=["cross_mean_log_prob"])


def test_planner_runs_one_forward_pass_per_model_for_own_and_paired_tables():
    tok = build_tokenizer(bos=True)
    models = {"target": build_llama(len(tok)), "reference": build_llama(len(tok), seed=3)}
    planner = SignalPlanner(
        scorer_for=lambda role: HFTokenScorer(models[role], tok, name=role),
        options=EngineOptions(progress=False, batch_tokens=48),
    )
    needs = [
        SignalRef.parse("token_log_prob"),
        SignalRef.parse("target/lowercase:token_log_prob"),
        SignalRef.parse("reference/plain:token_log_prob"),
        SignalRef.parse("target@reference/plain:cross_mean_log_prob"),
    ]
    tables = planner.compute(TEXTS, needs)
    target, reference = planner.engine("target"), planner.engine("reference")
    units = len(target.units(target.prepare(TEXTS, PLAIN), packed=False))
    lower = len(target.units(target.prepare(TEXTS, LOWERCASE), packed=False))
    # plain: one pass per model feeds target, reference and target@reference; + lowercase
    assert target.n_forward_batches == units + lower
    assert reference.n_forward_batches == units
    alone, _ = engines(models["target"], models["reference"], tok, batch_tokens=48)
    expected = alone.compute(TEXTS, stats=["token_log_prob"])
    got = tables[("target", "plain")]
    np.testing.assert_allclose(
        got.flat("token_log_prob"), expected.flat("token_log_prob"), atol=1e-5
    )
    check_parity(
        models["target"],
        models["reference"],
        tok,
        TEXTS,
        tables[("target@reference", "plain")],
        lead=[0],
    )
