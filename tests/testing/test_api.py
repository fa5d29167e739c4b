"""``parametrize_with_checks`` makes one case per (attack, check); no pytest at import."""

from __future__ import annotations

import subprocess
import sys

from miakit.attacks import default_registry
from miakit.testing import CHECKS, parametrize_with_checks


def test_parametrize_makes_one_case_per_attack_and_check() -> None:
    mark = parametrize_with_checks(["loss", default_registry().get("zlib")])
    assert mark.args[0] == ("attack", "check")
    ids = [p.id for p in mark.args[1]]
    assert len(ids) == 2 * len(CHECKS)
    assert ids[0] == "loss-check_metadata_and_signature"
    assert "zlib-check_higher_score_is_member" in ids
    spec, check = mark.args[1][0].values
    assert spec.name == "loss"
    check(spec)


def test_importing_miakit_testing_does_not_import_pytest() -> None:
    code = "import sys, miakit.testing; assert 'pytest' not in sys.modules, 'pytest imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
