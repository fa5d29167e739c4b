"""``RunConfig``: every setting of ``miakit run``, declared once.

Each field below is the whole declaration of a setting (:func:`~miakit.config.schema.setting`):
its YAML key (the name; also accepted inside its group, ``engine: {max_length: 1024}``), its
flag (``--max-length``; :mod:`miakit.cli.flags` generates them), its default, its check and its
help. Model roles are the ``models`` mapping (:mod:`miakit.config.models`); the flat keys
``model``, ``reference``, ``gguf_file``... are shorthands for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miakit.config.models import ModelRef
from miakit.config.schema import attributes_doc, keys_of, setting

_PATH = "FILE"
#: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``...: what ``torch.device`` takes.
_DEVICE = r"auto|[a-z]+(:[0-9]+)?"


@dataclass(frozen=True, init=False)
class RunConfig:
    """Everything ``miakit run`` needs; every value checked when the config is built.

    ``RunConfig(**values)`` takes the YAML keys (shorthands and groups included) and raises
    one :class:`~miakit.errors.InvalidParameterError` listing every problem; unset keys take
    their defaults. Field names are the YAML keys; flags use dashes.
    """

    # -- what to score ------------------------------------------------------------------------
    models: Mapping[str, ModelRef] = setting(
        default_factory=dict,
        flag=None,
        help="model role -> {path, gguf_file, adapter}: the target and every other model of "
        "the run (--model, --reference... and --model-role ROLE=PATH fill it)",
    )
    members: str | None = setting(
        None, group="inputs", metavar=_PATH, help="file or folder of known members"
    )
    nonmembers: str | None = setting(
        None, group="inputs", metavar=_PATH, help="file or folder of known non-members"
    )
    data: str | None = setting(
        None, group="inputs", metavar=_PATH, help="one file or folder with a label column"
    )
    text_field: str = setting("text", group="inputs", help="name of the text column")
    id_field: str = setting("id", group="inputs", help="name of the id column")
    label_field: str = setting("label", group="inputs", help="name of the label column")
    allow_overlap: bool = setting(
        False, group="inputs", help="score texts present among both members and non-members"
    )
    split_method: str = setting(
        "given",
        group="inputs",
        help="how members and non-members were chosen, for the report: given (by the user), "
        "random (a seeded random split), fine-tune (by construction)",
    )
    attacks: tuple[str, ...] | None = setting(
        None,
        example="[loss, min_k]",
        items="attack names",
        help="comma-separated attack names (default: every attack the given inputs allow)",
    )
    plugins: tuple[str, ...] = setting(
        (),
        flag="--plugin",
        metavar="MODULE",
        example="[my_attacks]",
        items="module names",
        repeat=True,
        help="import this module before the attacks are resolved, so that the attacks (and "
        "input providers) it registers can run (repeatable; installed packages can declare "
        "the entry-point group miakit.attacks instead)",
    )
    attack_params: Mapping[str, Mapping[str, Any]] = setting(
        default_factory=dict,
        flag=None,
        example="{min_k: {k: 0.2}}",
        help="{attack: {hyperparameter: value}} (flag: --param ATTACK.PARAM=VALUE)",
    )
    out: str = setting("miakit-out", metavar="DIR", help="output folder")
    provided: Mapping[str, Any] = setting(
        default_factory=dict,
        flag=None,
        help="the values of the settings input providers declare (miakit.config.provided); "
        "each is written as its own flat key",
    )
    # -- how models load and run ------------------------------------------------------------
    device: str = setting(
        "auto",
        group="backend",
        pattern=_DEVICE,
        pattern_what="auto, cpu, cuda or cuda:N",
        help="auto, cpu, cuda or cuda:N",
    )
    dtype: str = setting(
        "auto",
        group="backend",
        choices=("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16"),
        help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16 or float16",
    )
    compile: bool = setting(
        False,
        group="backend",
        help="torch.compile each model's decoder (GPU runs; a one-time compile cost)",
    )
    allow_pickle: bool = setting(
        False, group="backend", help="allow pickle checkpoints (they can run code)"
    )
    trust_remote_code: bool = setting(
        False, group="backend", help="allow the model folder's own Python code"
    )
    max_length: int = setting(
        2048,
        group="engine",
        ge=2,
        help="most tokens per text, prefix and BOS included (longer texts are truncated and "
        "flagged)",
    )
    batch_tokens: int | None = setting(
        None,
        group="engine",
        ge=1,
        example="16384",
        help="most padded tokens per forward batch (default: 4096 on CPU, 16384 on CUDA)",
    )
    chunk_tokens: int | None = setting(
        None,
        group="engine",
        ge=1,
        example="4096",
        help="positions per fp32 statistics chunk (default: about 2**26 logits per chunk)",
    )
    bos: str = setting(
        "auto",
        group="engine",
        choices=("auto", "always", "never"),
        help="BOS token policy: auto (the tokenizer's own choice), always or never",
    )
    packing: str = setting(
        "auto",
        group="engine",
        choices=("auto", "packed", "padded"),
        help="auto (padding-free packed rows on CUDA where the architecture supports it), "
        "packed or padded",
    )
    prefix_reuse: bool = setting(
        True,
        group="engine",
        help="run a context's shared prefix (ReCaLL shots) once and reuse its keys/values "
        "for every batch",
        off_help="run a context's shared prefix (ReCaLL shots) again with every text instead "
        "of reusing its keys/values (equal up to rounding)",
    )
    shard_size: int | None = setting(
        None,
        group="engine",
        ge=1,
        example="1000",
        help="score in resumable shards of N texts in OUT/shards (torchrun: one worker per "
        "GPU; rank 0 merges)",
    )
    cache_dir: str | None = setting(
        None,
        group="cache",
        metavar="DIR",
        example="~/.cache/miakit",
        help="signal cache folder (default: ~/.cache/miakit)",
    )
    no_cache: bool = setting(
        False, group="cache", help="neither read nor write the caches (signals, integrity checks)"
    )
    progress: bool = setting(True, help="show progress bars", off_help="hide progress bars")
    timings: bool = setting(
        False,
        help="print the wall time of each stage on stderr at the end (always recorded in "
        "metrics.json under setup.timings)",
    )
    # -- evaluation ---------------------------------------------------------------------------
    seed: int = setting(0, group="evaluation", ge=0, help="seed of every random choice (bootstrap)")
    n_bootstrap: int = setting(
        1000, group="evaluation", ge=1, help="bootstrap resamples for confidence intervals"
    )
    doc_window: int | None = setting(
        None,
        group="evaluation",
        ge=1,
        metavar="TOKENS",
        example="512",
        help="split each text longer than TOKENS target tokens into windows (chunks tied by "
        "doc_id) and report document-level metrics (docs/documents.md)",
    )
    doc_stride: int | None = setting(
        None,
        group="evaluation",
        ge=1,
        metavar="TOKENS",
        example="256",
        help="tokens between the starts of consecutive windows, at most --doc-window "
        "(default: the window, no overlap)",
    )
    doc_combiner: bool = setting(
        False,
        group="evaluation",
        help="also fit a learned combiner of the document aggregates and the histogram "
        "classifier of arXiv 2310.15007, cross-validated by document",
    )
    doc_folds: int = setting(
        5, group="evaluation", ge=2, metavar="K", help="folds of --doc-combiner's cross-validation"
    )
    blind: bool = setting(
        True,
        group="integrity",
        help="run the model-free blind baselines beside the attacks and warn when they "
        "separate members from non-members (distribution shift; arXiv 2406.16201)",
        off_help="skip the model-free blind baselines that detect distribution shift",
    )
    blind_permutations: int = setting(
        199,
        group="integrity",
        ge=0,
        metavar="N",
        help="label permutations of the blind baselines' family-wise shift test (0: no test, "
        "warn on the interval rule instead)",
    )
    blind_alpha: float = setting(
        0.05,
        group="integrity",
        gt=0,
        lt=1,
        metavar="P",
        help="warn of a distribution shift when the blind baselines' family-wise permutation "
        "p-value is at most this (at least 1 / (1 + blind_permutations))",
    )
    overlap_warn_fraction: float = setting(
        0.01,
        group="integrity",
        ge=0,
        le=1,
        metavar="F",
        help="warn when more than this share of the non-members has an exact or "
        "near-duplicate member",
    )
    # -- auxiliary inputs ---------------------------------------------------------------------
    aux_nonmembers: str | None = setting(
        None,
        group="auxiliary",
        metavar=_PATH,
        help="known non-members for the ReCaLL prefix (recall, con_recall); must share no "
        "text with the evaluation data",
    )
    aux_members: str | None = setting(
        None, group="auxiliary", metavar=_PATH, help="known members for Con-ReCall's member prefix"
    )
    recall_shots: int = setting(
        5,
        group="auxiliary",
        ge=1,
        metavar="N",
        help="texts drawn (with seed) into each ReCaLL prefix",
    )
    recall_separator: str = setting(
        "",
        group="auxiliary",
        metavar="STR",
        example='"\\n\\n"',
        help="joins the prefix's texts (default: empty, as the official ReCaLL code)",
    )
    calibrate: str | None = setting(
        None,
        group="auxiliary",
        metavar=_PATH,
        help="labelled members/non-members, disjoint from the evaluation data, on which "
        "calibrated hyperparameters (con_recall's gamma) are chosen by AUROC",
    )
    frequency_corpus: str | None = setting(
        None,
        group="auxiliary",
        metavar="PATH",
        help="reference corpus (file or folder: .txt/.jsonl/.json/.csv/.parquet) for dc_pdd "
        "token frequencies; must not contain evaluation texts",
    )
    neighbors: int = setting(
        10,
        group="auxiliary",
        ge=1,
        metavar="M",
        help="neighbors per text for neighborhood / neighborhood_causal",
    )
    fill_mask_model: str | None = setting(
        None,
        group="auxiliary",
        metavar="PATH",
        help="local masked LM (BERT-style) for neighborhood's neighbors: the paper's "
        "embedding-dropout single-word swaps (neighborhood needs it)",
    )
    neighbor_fraction: float = setting(
        0.15,
        group="auxiliary",
        gt=0,
        le=1,
        metavar="F",
        help="share of words replaced per neighbor, neighborhood_causal only",
    )
    neighbor_top_k: int = setting(
        10,
        group="auxiliary",
        ge=1,
        metavar="K",
        help="proposals per word: the K most likely other words",
    )

    def __init__(self, **values: Any) -> None:
        from miakit.config.build import check

        for name, value in check(values, source="arguments").items():
            object.__setattr__(self, name, value)

    def value(self, name: str) -> Any:
        """The value of setting ``name``: a field, or a setting an input provider declared
        (its default when this config was built before the provider registered).

        Raises:
            InvalidParameterError: no such setting.
        """
        from miakit.config.provided import provided_keys

        if name in KEYS and name != "provided":
            return getattr(self, name)
        if name in self.provided:
            return self.provided[name]
        provided = provided_keys()
        if name in provided:
            return provided[name].default
        from miakit.errors import InvalidParameterError, did_you_mean

        known = [*KEYS, *provided]
        raise InvalidParameterError(f"unknown setting {name!r}.{did_you_mean(name, known)}")

    def to_dict(self) -> dict[str, Any]:
        """The flat YAML form (built-in roles as their shorthand keys, other roles under
        ``models``); :func:`~miakit.config.make_config` of it gives this config back."""
        from miakit.config.build import to_dict

        return to_dict(self)

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "miakit"


#: The schema: YAML key -> :class:`~miakit.config.schema.Key`, in declaration order.
KEYS = keys_of(RunConfig)
RunConfig.__doc__ = (RunConfig.__doc__ or "") + attributes_doc(KEYS)
