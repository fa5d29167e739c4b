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
