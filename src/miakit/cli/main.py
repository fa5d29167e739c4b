"""``miakit``: the command line. Verbs mirror the packages; no logic lives here.

Exit codes: 0 success, 2 usage or input error (message on stderr, no traceback), 1 an
unexpected failure (with traceback: please report it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from miakit._core.version import __version__
from miakit.cli._types import integer as _integer
from miakit.cli._types import number as _number
from miakit.cli._types import param as _param
from miakit.errors import InvalidParameterError, MiakitError

SPLIT_HELP = """\
Split one corpus at random into members and non-members, seeded and optionally stratified.

Drawing both sets from one corpus is the design that removes distribution shift: sets built
separately (e.g. texts from before and after a model's cut-off) differ in ways a model-free
classifier can see, and attacks then measure that difference, not membership (arXiv
2406.16201). The split is only meaningful BEFORE training: train on members.jsonl, and keep
nonmembers.jsonl out of all training data. Labels in INPUT are ignored.

Writes DIR/members.jsonl, DIR/nonmembers.jsonl and DIR/manifest.json (input sha256, fraction,
seed, counts, sha256 of the member ids)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miakit",
        description="Membership inference attacks: was this data used to train this model?",
    )
    parser.add_argument("--version", action="version", version=f"miakit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="score texts with membership inference attacks")
    r.add_argument("--config", help="YAML file with run settings (flags override it)")
    r.add_argument("--model", help="target model: a local folder (safetensors) or a .gguf file")
    r.add_argument("--members", help="file or folder of known members")
    r.add_argument("--nonmembers", help="file or folder of known non-members")
    r.add_argument("--data", help="one file or folder with a label column")
    r.add_argument("--reference", help="reference model for the reference* attacks")
    r.add_argument(
        "--performer", help="performer model for binoculars (default: the --model target)"
    )
    r.add_argument(
        "--observer", help="observer model for binoculars (shares the performer's tokenizer)"
    )
    r.add_argument(
        "--sampling-model",
        help="sampling model for fast_detectgpt_ref (shares the target's tokenizer)",
    )
    r.add_argument("--attacks", help="comma-separated attack names (default: all runnable)")
    r.add_argument(
        "--param",
        action="append",
        type=_param,
        metavar="ATTACK.PARAM=VALUE",
        help="attack hyperparameter, e.g. min_k.k=0.1 (repeatable)",
    )
    r.add_argument("--out", help="output folder (default: miakit-out)")
    r.add_argument("--max-length", type=_integer(2048), help="most tokens per text (default 2048)")
    r.add_argument(
        "--batch-tokens", type=_integer(16384), help="most padded tokens per forward batch"
    )
    r.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--dtype", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")
    r.add_argument("--bos", choices=("auto", "always", "never"), help="BOS token policy")
    r.add_argument(
        "--shard-size",
        type=_integer(1000),
        help="score in resumable shards of N texts in OUT/shards (torchrun: one worker per GPU)",
    )
    r.add_argument(
        "--packing",
        choices=("auto", "packed", "padded"),
        help="auto (packed varlen rows on CUDA where supported), packed or padded",
    )
    r.add_argument("--gguf-file", help="GGUF file name inside the --model folder")
    r.add_argument("--reference-gguf-file", help="GGUF file name inside the --reference folder")
    for role_flag in ("performer", "observer", "sampling-model"):
        r.add_argument(
            f"--{role_flag}-gguf-file", help=f"GGUF file name inside the --{role_flag} folder"
        )
    r.add_argument("--text-field", help="name of the text column (default: text)")
    r.add_argument("--id-field", help="name of the id column (default: id)")
    r.add_argument("--label-field", help="name of the label column (default: label)")
    r.add_argument("--cache-dir", help="signal cache folder (default ~/.cache/miakit)")
    r.add_argument("--seed", type=_integer(0), help="seed for the bootstrap (default 0)")
    r.add_argument("--n-bootstrap", type=_integer(1000), help="bootstrap resamples (default 1000)")
    r.add_argument(
        "--blind-permutations",
        type=_integer(199),
        metavar="N",
        help="label permutations of the blind baselines' family-wise shift test (default "
        "199; 0: no test, warn on the interval rule instead)",
    )
    r.add_argument(
        "--blind-alpha",
        type=_number(0.05),
        metavar="P",
        help="warn of a distribution shift when the blind baselines' family-wise "
        "permutation p-value is at most this (default 0.05)",
    )
    _add_auxiliary_flags(r)
    for flag, help_text in (
        ("--no-cache", "neither read nor write the signal cache"),
        ("--allow-overlap", "score texts present among both members and non-members"),
        ("--allow-pickle", "allow pickle checkpoints (they can run code)"),
        ("--trust-remote-code", "allow the model folder's own Python code"),
        ("--no-progress", "hide progress bars"),
        ("--compile", "torch.compile each model's decoder (GPU; one-time compile cost)"),
        ("--no-blind", "skip the model-free blind baselines that detect distribution shift"),
    ):
        r.add_argument(flag, action="store_true", default=None, help=help_text)

    d = sub.add_parser(
        "demo",
        help="fine-tune SmolLM2 on half of some Wikipedia leads, attack it, write a report",
    )
    d.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    d.add_argument(
        "--n-articles", type=_integer(160), default=160, help="articles, half members (160)"
    )
    d.add_argument("--epochs", type=_integer(2), default=2, help="fine-tuning epochs (default 2)")
    d.add_argument("--seed", type=_integer(0), default=0, help="seed of every random choice (0)")
    d.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    d.add_argument(
        "--n-bootstrap", type=_integer(1000), default=1000, help="bootstrap resamples (1000)"
    )
    d.add_argument("--cache-dir", help="cache folder (default ~/.cache/miakit)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")

    rep = sub.add_parser("report", help="(re)write the HTML report of a run folder")
    rep.add_argument("dir", metavar="DIR", help="a run's output folder (holds metrics.json)")
    rep.add_argument("--out", metavar="FILE", help="report file (default: DIR/report.html)")

    sp = sub.add_parser(
        "split",
        help="split one corpus at random into members and non-members (before training)",
        description=SPLIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("input", metavar="INPUT", help="corpus: .jsonl, .json, .csv, .parquet, folder")
    sp.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sp.add_argument("--fraction", type=_number(0.5), default=0.5, help="share of members (0.5)")
    sp.add_argument("--seed", type=_integer(0), default=0, help="seed of the random split (0)")
    sp.add_argument("--stratify", metavar="COL", help="split each value of this column alike")
    sp.add_argument("--text-field", default="text", help="name of the text column (text)")
    sp.add_argument("--id-field", default="id", help="name of the id column (id)")
    sp.add_argument("--label-field", default="label", help="label column to ignore (label)")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing split in DIR")

    ls = sub.add_parser("list", help="list attacks")
    ls.add_argument("what", choices=("attacks",))
    return parser


#: RunConfig keys of the auxiliary-input flags (:func:`_add_auxiliary_flags`).
AUXILIARY_KEYS = (
    "aux_nonmembers",
    "aux_members",
    "recall_shots",
    "recall_separator",
    "calibrate",
    "frequency_corpus",
    "neighbors",
    "fill_mask_model",
    "neighbor_fraction",
    "neighbor_top_k",
)


def _add_auxiliary_flags(r: argparse.ArgumentParser) -> None:
    """Inputs of the context, calibration and perturbation attacks."""
    g = r.add_argument_group(
        "auxiliary inputs",
        "texts that feed attacks or choose their hyperparameters; none may share a text with "
        "the evaluation data (exact or up to case, punctuation and whitespace)",
    )
    g.add_argument(
        "--aux-nonmembers",
        metavar="FILE",
        help="known non-members for the ReCaLL prefix (recall, con_recall)",
    )
    g.add_argument(
        "--aux-members", metavar="FILE", help="known members for Con-ReCall's member prefix"
    )
    g.add_argument(
        "--recall-shots", type=_integer(5), metavar="N", help="texts per ReCaLL prefix (default 5)"
    )
    g.add_argument(
        "--recall-separator",
        metavar="STR",
        help="joins the prefix's texts (default: empty, as the official ReCaLL code)",
    )
    g.add_argument(
        "--calibrate",
        metavar="FILE",
        help="labelled members/non-members on which con_recall's gamma is chosen by AUROC",
    )
    g.add_argument(
        "--frequency-corpus",
        metavar="PATH",
        help="reference corpus (file or folder: .txt/.jsonl/...) for dc_pdd token frequencies",
    )
    g.add_argument(
        "--neighbors",
        type=_integer(10),
        metavar="M",
        help="neighbours per text for neighborhood / neighborhood_causal (10)",
    )
    g.add_argument(
        "--fill-mask-model",
        metavar="PATH",
        help="local masked LM (BERT-style) for neighborhood's neighbours: the paper's "
        "embedding-dropout single-word swaps (neighborhood needs it)",
    )
    g.add_argument(
        "--neighbor-fraction",
        type=_number(0.15),
        metavar="F",
        help="share of words replaced per neighbour, neighborhood_causal only (default 0.15)",
    )
    g.add_argument(
        "--neighbor-top-k",
        type=_integer(10),
        metavar="K",
        help="proposals per word: the K most likely other words (default 10)",
    )


def _run(args: argparse.Namespace) -> int:
    from miakit.config import load_yaml, make_config, merge
    from miakit.runner import run

    base = load_yaml(args.config) if args.config else {}
    flags = {
        k: getattr(args, k)
        for k in (
            "model",
            "members",
            "nonmembers",
            "data",
            "reference",
            "performer",
            "observer",
            "sampling_model",
            "attacks",
            "out",
            "max_length",
            "batch_tokens",
            "device",
            "dtype",
            "bos",
            "packing",
            "shard_size",
            "compile",
            "gguf_file",
            "reference_gguf_file",
            "performer_gguf_file",
            "observer_gguf_file",
            "sampling_model_gguf_file",
            "text_field",
            "id_field",
            "label_field",
            "cache_dir",
            "seed",
            "n_bootstrap",
            "blind_permutations",
            "blind_alpha",
            "no_cache",
            "allow_overlap",
            "allow_pickle",
            "trust_remote_code",
        )
    }
    flags.update({k: getattr(args, k) for k in AUXILIARY_KEYS})
    if args.no_progress:
        flags["progress"] = False
    if args.no_blind:
        flags["blind"] = False
    if args.param:
        params: dict[str, dict[str, Any]] = {}
        for attack, name, value in args.param:
            params.setdefault(attack, {})[name] = value
        flags["attack_params"] = params
    source = f"{args.config} and flags" if args.config else "flags"
    config = make_config(merge(base, flags), source=source)
    result = run(config)
    outputs = result.outputs
    if outputs and all(o.n_nan == len(o.scores) for o in outputs.values()):
        # one attack scoring nothing is a warning (the others stand); all of them, a failure
        where = f" (outputs in {result.out_dir})" if result.out_dir is not None else ""
        print(
            f"miakit: error: every attack scored nothing: {', '.join(outputs)} gave every "
            f"sample NaN; the reasons are above and in metrics.json (samples.nan){where}",
            file=sys.stderr,
        )
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from miakit.demo import DemoSettings, FinetuneSettings, run_demo

    settings = DemoSettings(
        n_articles=args.n_articles,
        seed=args.seed,
        device=args.device,
        n_bootstrap=args.n_bootstrap,
        finetune=FinetuneSettings(epochs=args.epochs, seed=args.seed),
    )
    run_demo(args.out, settings, cache_dir=args.cache_dir, progress=not args.no_progress)
    return 0


def _report(args: argparse.Namespace) -> int:
    from miakit.report.html import write_report

    print(write_report(args.dir, out=args.out))
    return 0


def _split(args: argparse.Namespace) -> int:
    from miakit.data.split import write_split

    manifest = write_split(
        args.input,
        args.out,
        fraction=args.fraction,
        seed=args.seed,
        stratify=args.stratify,
        text_field=args.text_field,
        id_field=args.id_field,
        label_field=args.label_field,
        overwrite=args.overwrite,
    )
    c = manifest["counts"]
    print(
        f"split {c['total']} samples: {c['members']} members -> {args.out}/members.jsonl, "
        f"{c['nonmembers']} non-members -> {args.out}/nonmembers.jsonl "
        f"(manifest: {args.out}/manifest.json)\n"
        "Train on members.jsonl only and keep nonmembers.jsonl out of all training data."
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from miakit.attacks import default_registry
    from miakit.runner import attack_requirements

    registry = default_registry()
    rows = [("attack", "requires", "signals", "hyperparameters", "paper (arXiv)", "summary")]
    for spec in registry:
        params = ", ".join(f"{k}={v!r}" for k, v in spec.params.items()) or "-"
        requires = ", ".join(attack_requirements(spec)) or "-"
        signals = ", ".join([*map(str, spec.needs), *(f"extra:{e}" for e in spec.extras)])
        rows.append((spec.name, requires, signals, params, spec.paper, spec.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5])
    print(
        "requires: flags an attack needs beyond --model ([...]: optional, with a default; "
        "[--attacks]: runs only when named)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _list(args)
        if args.command == "report":
            return _report(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "split":
            return _split(args)
        raise InvalidParameterError(f"unknown command {args.command!r}")
    except MiakitError as exc:
        print(f"miakit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("miakit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
