"""End to end on sklearn digits: train, resume, attack, metrics.json."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from miakit.errors import DataError, InvalidParameterError
from miakit.shadow import attack, store, train
from miakit.shadow.data import ClassifierData, load_data

# an overfitting set-up: 8 MLPs, each on 200 digits, 60 epochs (train acc 1.0, test ~0.93)
SMALL = {"model": "mlp", "n_models": 8, "pool_size": 400, "epochs": 60, "batch_size": 32,
         "concurrent": True}  # fmt: skip


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("digits")
        t0 = time.perf_counter()
        exp = train("digits", out=out, **SMALL)
        metrics = attack(out, out=out / "attack", n_bootstrap=200)
        return exp, metrics, time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)


def test_end_to_end_digits(digits_run):
    exp, metrics, seconds = digits_run
    assert seconds < 30
    assert exp.trained == tuple(range(8)) and exp.trainer == "concurrent"
    names = set(metrics["attacks"])
    assert {"loss", "offset", "lira_online", "lira_offline", "rmia", "label_only"} <= names
    acc = metrics["models"]["shadow"]
    assert acc["train_accuracy"] > 0.99 and acc["test_accuracy"] < 0.97  # it overfits
    a = metrics["attacks"]
    assert a["lira_online"]["auroc"] > 0.55
    assert a["lira_online_fixed_var"]["tpr_at_fpr"]["0.01"] > a["loss"]["tpr_at_fpr"]["0.01"]
    for m in a.values():
        assert m["n_members"] == m["n_nonmembers"] == 8 * 200
        lo, hi = m["auroc_ci"]
        assert lo <= m["auroc"] <= hi
    written = json.loads((exp.folder / "attack" / "metrics.json").read_text())
    assert written["attacks"].keys() == a.keys()
    assert written["setup"]["n_models"] == 8 and written["setup"]["model"] == "mlp"


def test_folder_layout(digits_run):
    exp, _, _ = digits_run
    mem = store.load_array(exp.folder, store.MEMBERSHIP)
    assert mem.shape == (400, 8)
    np.testing.assert_array_equal(mem.sum(axis=1), 4)
    files = sorted(p.name for p in (exp.folder / "models").iterdir())
    assert files == [f"model-{m:04d}.safetensors" for m in range(8)]
    pool = store.load_array(exp.folder, store.POOL)
    assert len(np.unique(pool)) == 400
    sig = exp.signals()
    np.testing.assert_array_equal(sig.membership, mem)
    np.testing.assert_array_equal(sig.labels, load_data("digits").y[pool])


def test_resume_trains_only_missing_models(digits_run, tmp_path):
    exp, _, _ = digits_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exp.folder, copy)
    again = train("digits", out=copy, **SMALL)
    assert again.trained == ()
    store.model_path(copy, 5).unlink()
    (copy / store.SIGNALS).unlink()
    resumed = train("digits", out=copy, **SMALL)
    assert resumed.trained == (5,)
    np.testing.assert_allclose(resumed.signals().phi, exp.signals().phi, rtol=1e-5, atol=1e-5)


def test_new_queries_recompute_only_the_signals(digits_run, tmp_path):
    import shutil

    exp, _, _ = digits_run
    copy = tmp_path / "copy"
    shutil.copytree(exp.folder, copy)
    again = train("digits", out=copy, **SMALL, queries=["identity", "hflip"])
    assert again.trained == ()
    sig = again.signals()
    assert sig.queries == ("identity", "hflip")
    np.testing.assert_allclose(sig.phi[:, :, 0], exp.signals().phi[:, :, 0], rtol=1e-6)
    assert store.read_manifest(copy)["queries"] == ["identity", "hflip"]


def test_other_settings_in_the_same_folder_are_refused(digits_run):
    exp, _, _ = digits_run
    with pytest.raises(InvalidParameterError, match=r"different train\.epochs"):
        train("digits", out=exp.folder, **{**SMALL, "epochs": 3})


def test_sequential_fallback_and_tabular_data(tmp_path):
    exp = train("breast-cancer", out=tmp_path, n_models=6, epochs=2)
    assert exp.trainer == "sequential"  # the default on the CPU
    assert exp.manifest["model"] == "mlp" and exp.manifest["queries"] == ["identity"]
    assert exp.manifest["pool_size"] == 568 and exp.manifest["n_unused"] == 1
    metrics = attack(tmp_path, attacks=["loss", "lira_online_fixed_var"], n_bootstrap=20)
    assert set(metrics["attacks"]) == {"loss", "lira_online_fixed_var"}
    assert any("rests on" in w for w in metrics["warnings"])  # 6 x 284 non-members < 10/0.001


def test_user_arrays_and_cnn(tmp_path):
    rng = np.random.default_rng(0)
    data = ClassifierData.from_arrays(rng.random((40, 1, 6, 6)), np.arange(40) % 2, name="mine")
    exp = train(data, out=tmp_path, n_models=4, epochs=1, queries=["identity", "hflip"])
    assert exp.manifest["model"] == "cnn" and exp.signals().phi.shape == (40, 4, 2)


def test_attack_errors(tmp_path):
    with pytest.raises(DataError, match="not a shadow experiment"):
        attack(tmp_path)
    with pytest.raises(InvalidParameterError, match="pool_size must be even"):
        train("digits", out=tmp_path, pool_size=401)
