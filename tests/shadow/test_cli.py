"""``miakit shadow train`` / ``miakit shadow attack`` in-process."""

from __future__ import annotations

import json

from miakit.cli.main import main


def test_train_then_attack(tmp_path, capsys):
    exp = tmp_path / "exp"
    rc = main(["shadow", "train", "--data", "breast-cancer", "--n-models", "4", "--epochs",
               "2", "--out", str(exp), "--trainer", "sequential"])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr()
    assert "4 mlp models on breast-cancer (pool 568): trained 4 (sequential)" in out.out
    assert "[train 4/4]" in out.err
    rc = main(["shadow", "attack", str(exp), "--out", str(tmp_path / "att"), "--attacks",
               "loss", "rmia", "--param", "rmia.gamma=1.5", "--n-bootstrap", "20"])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert "rmia" in printed and "metrics written to" in printed
    metrics = json.loads((tmp_path / "att" / "metrics.json").read_text())
    assert set(metrics["attacks"]) == {"loss", "rmia"}
    assert metrics["attacks"]["rmia"]["params"]["gamma"] == 1.5


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["shadow", "attack", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a shadow experiment" in capsys.readouterr().err
    rc = main(["shadow", "train", "--data", "digitz", "--out", str(tmp_path / "e")])
    assert rc == 2
    assert "Did you mean 'digits'" in capsys.readouterr().err


def test_attack_writes_the_run_report_with_log_log_roc(tmp_path, capsys):
    """metrics.json in the layout of `miakit run`, and report.html with the log-log ROC; every
    text from the data (here the .npz path with markup) is escaped."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "<img src=x onerror=alert(1)>.npz"
    np.savez(data, x=rng.normal(size=(80, 5)), y=rng.integers(0, 2, size=80))
    exp = tmp_path / "exp"
    assert main(["shadow", "train", "--data", str(data), "--n-models", "6", "--epochs", "1",
                 "--out", str(exp), "--trainer", "sequential"]) == 0  # fmt: skip
    out = tmp_path / "att"
    assert main(["shadow", "attack", str(exp), "--out", str(out), "--n-bootstrap", "10",
                 "--references", "1", "2"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"miakit_version", "setup", "attacks", "skipped_attacks", "models", "samples",
            "warnings"} <= set(metrics)  # fmt: skip
    attacks = metrics["attacks"]
    assert {"rmia_offline_ref1", "rmia_offline_ref2", "rmia_ref1", "rmia_ref2"} <= set(attacks)
    assert attacks["rmia_offline_ref1"]["shadows_per_side"] == 1
    assert attacks["rmia_offline"]["shadows_per_side"] == 2  # 6 models: 2 per side, all
    assert attacks["loss"]["bootstrap_unit"] == "two-way"
    # LiRA needs 2 shadows per side: with 1 reference it is skipped, with the reason
    assert "lira_offline_fixed_var_ref1" in metrics["skipped_attacks"]
    assert "skipped lira_offline_fixed_var_ref1" in err
    html = (out / "report.html").read_text()
    assert "log-log" in html and "rmia_offline_ref2" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_attack_no_report(tmp_path):
    exp = tmp_path / "exp"
    rc = main(["shadow", "train", "--data", "breast-cancer", "--n-models", "4", "--epochs",
               "1", "--pool-size", "100", "--out", str(exp)])  # fmt: skip
    assert rc == 0
    assert main(["shadow", "attack", str(exp), "--out", str(tmp_path / "a"), "--attacks",
                 "loss", "--n-bootstrap", "10", "--no-report"]) == 0  # fmt: skip
    assert not (tmp_path / "a" / "report.html").exists()


def test_train_logreg_from_the_cli(tmp_path, capsys):
    exp = tmp_path / "exp"
    rc = main(["shadow", "train", "--data", "breast-cancer", "--model", "logreg", "--n-models",
               "4", "--pool-size", "100", "--out", str(exp)])  # fmt: skip
    assert rc == 0
    assert "4 logreg models on breast-cancer" in capsys.readouterr().out
    assert (exp / "models" / "model-0003.logprob.npz").is_file()


def test_list_classifier_attacks(capsys):
    """`miakit list classifier-attacks`: every registered classifier attack, one row each with
    its use of shadows, signals, hyperparameters and paper; `list attacks` points to it."""
    from miakit.shadow.attacks import default_registry

    assert main(["list", "classifier-attacks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["attack", "shadows", "signals"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    specs = list(default_registry())
    assert set(rows) == {s.name for s in specs} and len(lines) == len(specs) + 2
    for spec in specs:
        assert rows[spec.name][1] == ("yes" if spec.uses_shadows else "no")
        assert spec.paper in rows[spec.name]
    assert rows["lira_online"][1:3] == ["yes", "phi"] and rows["loss"][1] == "no"
    assert "a=0.3," in rows["rmia_offline"]
    assert main(["list", "attacks"]) == 0
    out = capsys.readouterr().out
    assert "lira_online" not in out and "miakit list classifier-attacks" in out
