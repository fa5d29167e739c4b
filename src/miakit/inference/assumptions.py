"""The assumption of dataset inference, checked: can the two sets be told apart WITHOUT the model?

Dataset inference compares a model's attack scores on suspect texts with those on
validation texts, known non-members "from the same distribution". Its p-value is valid only
under that assumption: if the validation texts differ in time, topic or format, the model
scores them differently whether or not it was trained on the suspect texts, and a small
p-value measures the difference of the sets, not training. So before the test, two
model-free checks run on the texts (:func:`miakit.dataset_inference` runs them with
:mod:`miakit.blind` and :mod:`miakit.data.overlap`; this module only reads their results):

* **blind baselines** (arXiv 2406.16201): classifiers that see only the texts try to tell
  suspect from validation, cross-validated, with one family-wise label-permutation p-value
  over all of them. ``p <= blind_alpha`` withholds the verdict, naming the best baseline.
* **overlap**: validation texts with an exact or near-duplicate among the suspect texts
  (word n-gram containment). Such a text is no clean non-member if the suspect set was
  trained on; more than ``max_overlap_fraction`` of them withholds the verdict.

A check that passes is not proof of the assumption: a weak shift at a few hundred texts is
often missed (``miakit.blind``'s docs give the measured rates). A withheld verdict costs no
validity: the verdict ``member`` is given only when the checks pass *and* the test rejects,
so its false-positive rate under the null stays at most ``alpha``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShiftCheck:
    """Results of the model-free checks on the suspect and validation texts.

    Attributes:
        blind_p: family-wise permutation p-value of the blind baselines (``None``: not run).
        blind_alpha: withhold when ``blind_p <= blind_alpha``.
        blind_best: the baseline with the highest AUROC in the permutation test.
        blind_auroc: that baseline's cross-validated AUROC, suspect vs validation.
        overlap_fraction: share of validation texts with an exact or near-duplicate suspect
            text (``None``: not run).
        overlap_pairs: exact and near-duplicate pairs found.
        max_overlap_fraction: withhold when ``overlap_fraction`` exceeds it.
        notes: what the checks could not do.
        blind_warning: the blind baselines' own shift warning when their permutation test
            did not run (``--blind-permutations 0``: the interval rule); it withholds too.
        sets: the names of the two compared sets in the messages, the blind baselines'
            "members" first: ``("suspect texts", "validation texts")`` for dataset inference,
            ``("collection documents", "reference non-members")`` for the collection test.
    """

    blind_p: float | None = None
    blind_alpha: float = 0.05
    blind_best: str | None = None
    blind_auroc: float | None = None
    overlap_fraction: float | None = None
    overlap_pairs: int = 0
    max_overlap_fraction: float = 0.01
    notes: tuple[str, ...] = ()
    blind_warning: str | None = None
    sets: tuple[str, str] = ("suspect texts", "validation texts")

    @classmethod
    def from_sections(
        cls,
        blind_summary: Mapping[str, Any] | None,
        overlap: Mapping[str, Any] | None,
        *,
        max_overlap_fraction: float = 0.01,
        sets: tuple[str, str] = ("suspect texts", "validation texts"),
    ) -> ShiftCheck:
        """Read the ``blind_summary`` and ``overlap`` sections of
        :func:`miakit.blind.evaluation_integrity` (members = ``sets[0]``, non-members =
        ``sets[1]``: by default suspect and validation texts)."""
        notes: list[str] = []
        blind_p = blind_best = blind_auroc = None
        blind_warning = None
        blind_alpha = 0.05
        if blind_summary:
            if "permutation_p" in blind_summary:
                blind_p = float(blind_summary["permutation_p"])
                blind_alpha = float(blind_summary["alpha"])
                blind_best = str(blind_summary["test_best"])
                blind_auroc = float(blind_summary["best_auroc"])
            else:
                notes.append("the blind baselines ran without their permutation test")
                blind_warning = (
                    str(blind_summary["warning"]) if blind_summary.get("warning") else None
                )
            notes.extend(str(n) for n in blind_summary.get("notes", ()))
        else:
            notes.append("the blind baselines did not run")
        fraction, pairs = None, 0
        if overlap:
            fraction = float(overlap["fraction_nonmembers"])
            pairs = int(overlap["n_exact"]) + int(overlap["n_near"])
        else:
            notes.append("the overlap check did not run")
        return cls(
            blind_p=blind_p,
            blind_alpha=blind_alpha,
            blind_best=blind_best,
            blind_auroc=blind_auroc,
            overlap_fraction=fraction,
            overlap_pairs=pairs,
            max_overlap_fraction=max_overlap_fraction,
            notes=tuple(notes),
            blind_warning=blind_warning,
            sets=sets,
        )

    @property
    def ran(self) -> bool:
        """Whether the blind baselines' test ran (the check that can withhold on a shift)."""
        return self.blind_p is not None

    def withhold_reason(self) -> str | None:
        """Why the verdict must be withheld, or ``None`` when the checks pass."""
        reasons = []
        a, b = self.sets
        fix = f"Draw {b} from the same source, period and format as the {a}"
        if self.blind_p is not None and self.blind_p <= self.blind_alpha:
            reasons.append(
                f"the sets differ without the model: the model-free blind baseline "
                f"{self.blind_best!r} tells {a} from {b} (AUROC "
                f"{self.blind_auroc:.3f}; family-wise permutation p = {self.blind_p:.3g} <= "
                f"{self.blind_alpha:g}, arXiv 2406.16201), so the {b} are not "
                f"from the {a}' distribution and the model's scores on them would "
                f"measure that difference, not training. {fix}"
            )
        if self.blind_warning is not None:
            reasons.append(
                "the sets differ without the model: the model-free blind baselines (without "
                f"their permutation test) warn: {self.blind_warning}. {fix}"
            )
        if self.overlap_fraction is not None and self.overlap_fraction > self.max_overlap_fraction:
            reasons.append(
                f"{self.overlap_fraction:.1%} of the {b} have an exact or "
                f"near-duplicate among the {a} ({self.overlap_pairs} pair(s); more "
                f"than {self.max_overlap_fraction:.1%}): they are not clean non-members if the "
                f"{a} were trained on. Deduplicate the {b} against the {a}"
            )
        return "; and ".join(reasons) if reasons else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the decision."""
        return {
            "blind_permutation_p": self.blind_p,
            "blind_alpha": self.blind_alpha,
            "blind_warning": self.blind_warning,
            "blind_best": self.blind_best,
            "blind_best_auroc": self.blind_auroc,
            "overlap_fraction": self.overlap_fraction,
            "overlap_pairs": self.overlap_pairs,
            "max_overlap_fraction": self.max_overlap_fraction,
            "withhold": self.withhold_reason() is not None,
            "notes": list(self.notes),
        }
