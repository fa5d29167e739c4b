"""The demo's data selection, and a miniature demo on the real assets."""

from __future__ import annotations

import json

import pytest

from miakit.demo.run import DemoSettings, lead_sentences, pick_articles
from miakit.errors import InvalidParameterError

SUMMARIES = {
    f"Article {i:03d}": f"Article {i} is a topic. It has a second sentence here. "
    f"A third sentence makes it longer than the limit for sure, number {i}."
    for i in range(60)
}


def test_lead_sentences_keeps_whole_sentences():
    text = "First one. Second one is here! Third? Fourth sentence ends."
    assert lead_sentences(text, 30) == "First one. Second one is here!"
    assert lead_sentences(text, 5) == ""
    assert lead_sentences(text, 1000) == text


def test_pick_articles_is_seeded_disjoint_and_balanced():
    settings = DemoSettings(n_articles=20, max_chars=80, min_chars=20, seed=3)
    m1, n1 = pick_articles(SUMMARIES, settings)
    m2, n2 = pick_articles(SUMMARIES, settings)
    assert (m1, n1) == (m2, n2)
    assert len(m1) == len(n1) == 10
    assert not {t for t, _ in m1} & {t for t, _ in n1}
    assert all(len(text) <= 80 for _, text in m1 + n1)
    m3, _ = pick_articles(SUMMARIES, DemoSettings(n_articles=20, max_chars=80, min_chars=20))
    assert m3 != m1


def test_demo_settings_validation():
    with pytest.raises(InvalidParameterError, match="even"):
        DemoSettings(n_articles=7)
    with pytest.raises(InvalidParameterError, match="lower n_articles"):
        pick_articles(SUMMARIES, DemoSettings(n_articles=200, max_chars=80, min_chars=20))


def test_mini_demo_on_real_assets(tmp_path):
    from miakit.assets import MissingAssetError, smollm2_gguf, wiki_summaries_path

    try:
        smollm2_gguf()
        wiki_summaries_path()
    except MissingAssetError:
        pytest.skip("the demo assets are not installed (see miakit.assets)")
    from miakit.demo import DemoSettings, FinetuneSettings, run_demo

    settings = DemoSettings(
        n_articles=8, n_bootstrap=50, finetune=FinetuneSettings(epochs=1, train_top_layers=2)
    )
    result = run_demo(tmp_path / "out", settings, cache_dir=tmp_path / "cache", progress=False)
    assert len(result.scores) == 8
    assert (tmp_path / "out" / "metrics.json").is_file()
    manifest = json.loads((tmp_path / "out" / "demo.json").read_text())
    assert manifest["settings"]["n_articles"] == 8
    assert list((tmp_path / "cache" / "demo").glob("smollm2-ft-*/model.safetensors"))
