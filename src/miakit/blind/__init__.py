"""Model-free blind baselines: can members be told from non-members without the model?

If a classifier that never sees the model separates members from non-members, the two sets
differ in distribution and attack scores on them are not evidence of membership (arXiv
2406.16201, "Blind Baselines Beat Membership Inference Attacks for Foundation Models"). miakit
therefore reports these baselines beside the attacks on every run.

Each baseline is one module here (module name = baseline name) registering a factory of an
unfitted, unsupervised scikit-learn transformer; :func:`run_blind_baselines` scores them all
with one ridge classifier by k-fold cross-validation, and tests them together by label
permutation: the warning fires when the family-wise p-value is at most ``alpha`` (0.05).
On 300 random splits of 400 Wikipedia leads it fired on 5.7% (standard error 1.3%); it caught
65% of splits whose best baseline reached AUROC about 0.58 (20% of the non-members mentioning
later years) and all at 0.74; the rates by strength and the cost are in
``benchmarks/README.md``, the design in :mod:`miakit.blind._cv`. The baselines' bootstrap
intervals are too narrow (each excluded 0.5 on 15-16% of random splits) and are labelled so.
Importing this package does not import scikit-learn; :func:`default_baselines` and
:func:`run_blind_baselines` do. :func:`start_evaluation_integrity` runs
:func:`evaluation_integrity` on a background thread (a run starts it while its models score).
"""

from miakit.blind._background import IntegrityJob, in_background, start_evaluation_integrity
from miakit.blind._cv import (
    DEFAULT_ALPHA,
    DEFAULT_PERMUTATIONS,
    INTERVAL_NOTE,
    WARN_AUROC_LOWER,
    BlindResult,
    check_test_options,
    run_blind_baselines,
    shift_warning,
)
from miakit.blind._integrity import Integrity, boxed, check_options, evaluation_integrity
from miakit.blind._registry import (
    BaselineRegistry,
    BlindBaseline,
    BlindPipeline,
    default_baselines,
    register_baseline,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_PERMUTATIONS",
    "INTERVAL_NOTE",
    "WARN_AUROC_LOWER",
    "BaselineRegistry",
    "BlindBaseline",
    "BlindPipeline",
    "BlindResult",
    "Integrity",
    "IntegrityJob",
    "boxed",
    "check_options",
    "check_test_options",
    "default_baselines",
    "evaluation_integrity",
    "in_background",
    "register_baseline",
    "run_blind_baselines",
    "shift_warning",
    "start_evaluation_integrity",
]
