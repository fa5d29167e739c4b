"""Shadow models for classifiers: data, concurrent training, signals, attacks, evaluation.

Quick use::

    from miakit import shadow
    exp = shadow.train("digits", model="mlp", n_models=16, out="runs/digits")
    metrics = shadow.attack("runs/digits", out="runs/digits-attack")
    metrics["attacks"]["lira_online"]["tpr_at_fpr"]["0.01"]

See ``docs/classifier-mia.md``. Modules: :mod:`~miakit.shadow.data`,
:mod:`~miakit.shadow.models`, :mod:`~miakit.shadow.membership`, :mod:`~miakit.shadow.train`
and :mod:`~miakit.shadow.concurrent` (over torchrun workers:
:mod:`~miakit.shadow.distributed`), :mod:`~miakit.shadow.queries`,
:mod:`~miakit.shadow.signals`, :mod:`~miakit.shadow.attacks`, :mod:`~miakit.shadow.evaluate`,
:mod:`~miakit.shadow.experiment`, :mod:`~miakit.shadow.attack_run`, :mod:`~miakit.shadow.store`.
"""

from miakit.shadow.attack_run import AttackRun, attack, run_attacks
from miakit.shadow.data import ClassifierData, load_data
from miakit.shadow.evaluate import evaluate_attacks
from miakit.shadow.experiment import Experiment, train
from miakit.shadow.signals import ShadowSignals

__all__ = [
    "AttackRun",
    "ClassifierData",
    "Experiment",
    "ShadowSignals",
    "attack",
    "evaluate_attacks",
    "load_data",
    "run_attacks",
    "train",
]
