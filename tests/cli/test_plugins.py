"""Attacks registered outside miakit reach the command line: ``--plugin MODULE`` (or YAML
``plugins:``, ``miakit.run(plugins=...)``) imports a module before the attacks are resolved,
and installed packages declare the entry-point group ``miakit.attacks`` (issue 11). Each run is
a fresh interpreter (as a user's command is): this test process froze its registries long ago."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auxmodels import write_jsonl
from miakit._core.plugins import import_plugins
from miakit.attacks import default_registry
from miakit.cli.flags import values_of
from miakit.cli.main import build_parser, main
from miakit.errors import InvalidParameterError

PLUGIN = '''
"""A plugin on a tmp path: one attack, registered when imported."""
import numpy as np

from miakit.attacks import AttackOutput, SignalView, register_attack


@register_attack("{name}", needs=("token_log_prob",), paper="1709.01604")
def {name}(signals: SignalView) -> AttackOutput:
    """Mean token log-likelihood, from a plugin (arXiv 1709.01604)."""
    rows = signals.tokens("token_log_prob")
    scores = np.array([r.mean() if len(r) else np.nan for r in rows])
    return AttackOutput.from_scores(scores, [None if len(r) else "no tokens" for r in rows])
'''


def write_plugin(folder: Path, module: str, attack: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(PLUGIN.format(name=attack), encoding="utf-8")


def miakit(args: list[str], cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), *sys.path])}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "miakit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_plugin_module_runs_from_the_flag_and_from_yaml(tmp_path, tiny_model_dir) -> None:
    write_plugin(tmp_path / "plugins", "my_attacks", "plugin_loss")
    write_jsonl(tmp_path / "m.jsonl", ["the cat sat on the mat", "a dog ran far"], "m")
    write_jsonl(tmp_path / "n.jsonl", ["a red box fell", "the old fox slept"], "n")
    common = ["--model", str(tiny_model_dir), "--members", "m.jsonl", "--nonmembers", "n.jsonl"]
    common += ["--attacks", "loss,plugin_loss", "--no-blind", "--n-bootstrap", "10"]
    done = miakit(
        ["run", *common, "--plugin", "my_attacks", "--out", "a"], tmp_path, tmp_path / "plugins"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["attacks"]["plugin_loss"]["auroc"] == metrics["attacks"]["loss"]["auroc"]
    (tmp_path / "run.yaml").write_text("plugins: [my_attacks]\n", encoding="utf-8")
    args = ["run", "--config", "run.yaml", *common, "--out", "b"]
    done = miakit(args, tmp_path, tmp_path / "plugins")
    assert done.returncode == 0, done.stderr
    assert "plugin_loss" in json.loads((tmp_path / "b" / "metrics.json").read_text())["attacks"]
    # without the plugin the attack is unknown, with a clear error
    done = miakit(["run", *common, "--out", "c"], tmp_path, tmp_path / "plugins")
    assert done.returncode == 2 and "unknown attack 'plugin_loss'" in done.stderr


def test_list_attacks_shows_a_plugin(tmp_path) -> None:
    write_plugin(tmp_path / "plugins", "my_attacks", "plugin_loss")
    done = miakit(["list", "attacks", "--plugin", "my_attacks"], tmp_path, tmp_path / "plugins")
    assert done.returncode == 0, done.stderr
    assert "plugin_loss" in done.stdout and "1709.01604" in done.stdout


def test_an_installed_entry_point_loads_without_a_flag(tmp_path) -> None:
    site = tmp_path / "site"
    write_plugin(site, "ep_attacks", "entry_point_loss")
    info = site / "ep_attacks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-attacks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[miakit.attacks]\nep = ep_attacks\n")
    done = miakit(["list", "attacks"], tmp_path, site)
    assert done.returncode == 0, done.stderr
    assert "entry_point_loss" in done.stdout


def test_a_missing_plugin_is_a_clear_error(capsys) -> None:
    assert main(["list", "attacks", "--plugin", "no_such_plugin_module"]) == 2
    err = capsys.readouterr().err
    assert "plugin module 'no_such_plugin_module' was not found" in err and "PYTHONPATH" in err


def test_a_plugin_imported_after_the_registry_froze_says_how_to_load_it(
    tmp_path, monkeypatch
) -> None:
    default_registry()  # frozen, as after any run in this process
    write_plugin(tmp_path, "late_attacks", "late_loss")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidParameterError, match=r"registry is frozen.*--plugin MODULE"):
        import_plugins(["late_attacks"])


def test_the_flag_repeats_and_splits_commas() -> None:
    args = build_parser().parse_args(["run", "--plugin", "a", "--plugin", "b, c"])
    assert values_of(args)["plugins"] == ["a", "b", "c"]


PROVIDER_PLUGIN = '''
"""A plugin whose input provider declares a setting of its own."""
from miakit.config.provided import declare
from miakit.pipeline import InputProvider, register_provider


@register_provider(
    "plugin_provider",
    settings=[declare("plugin_level", int, 1, group="auxiliary", ge=1, help="a plugin setting")],
)
class PluginProvider(InputProvider):
    """Builds nothing; it declares a setting."""
'''


def test_a_plugin_providers_setting_becomes_a_flag_of_miakit_run(tmp_path) -> None:
    (tmp_path / "prov_plugin.py").write_text(PROVIDER_PLUGIN, encoding="utf-8")
    done = miakit(["run", "--plugin", "prov_plugin", "--help"], tmp_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--plugin-level" in done.stdout and "a plugin setting" in done.stdout
    (tmp_path / "run.yaml").write_text("plugins: prov_plugin\nplugin_level: 0\n")
    done = miakit(["run", "--config", "run.yaml", "--model", "absent"], tmp_path, tmp_path)
    assert done.returncode == 2
    assert "plugin_level must be an integer >= 1, got 0" in done.stderr
    done = miakit(["run", "--plugin-level", "2"], tmp_path, tmp_path)  # no plugin: no flag
    assert done.returncode == 2 and "unrecognized arguments: --plugin-level" in done.stderr


def test_miakit_run_takes_plugins_as_a_keyword(tmp_path, tiny_model_dir) -> None:
    write_plugin(tmp_path / "plugins", "kw_attacks", "keyword_loss")
    write_jsonl(tmp_path / "m.jsonl", ["the cat sat on the mat", "a dog ran far"], "m")
    write_jsonl(tmp_path / "n.jsonl", ["a red box fell", "the old fox slept"], "n")
    script = (
        "import miakit\n"
        f"r = miakit.run(model={str(tiny_model_dir)!r}, members='m.jsonl', nonmembers='n.jsonl',"
        " attacks=['loss', 'keyword_loss'], plugins=['kw_attacks'], blind=False, write=False,"
        " n_bootstrap=10)\n"
        "a = r.metrics['attacks']\n"
        "assert a['keyword_loss']['auroc'] == a['loss']['auroc']\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
