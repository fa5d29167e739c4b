"""``miakit``: the command line. Verbs mirror the packages; no logic lives here.

Exit codes: 0 success, 2 usage or input error (message on stderr, no traceback), 1 an
unexpected failure (with traceback: please report it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from miakit import __version__
from miakit.errors import InvalidParameterError, MiakitError


def _param(value: str) -> tuple[str, str, Any]:
    """Parse ``attack.name=value`` (value read as YAML: numbers, booleans, strings)."""
    if "=" not in value or "." not in value.split("=", 1)[0]:
        raise argparse.ArgumentTypeError(
            f"expected ATTACK.PARAM=VALUE (e.g. min_k.k=0.1), got {value!r}"
        )
    key, raw = value.split("=", 1)
    attack, name = key.split(".", 1)
    return attack, name, yaml.safe_load(raw)


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
    r.add_argument("--attacks", help="comma-separated attack names (default: all runnable)")
    r.add_argument(
        "--param",
        action="append",
        type=_param,
        metavar="ATTACK.PARAM=VALUE",
        help="attack hyperparameter, e.g. min_k.k=0.1 (repeatable)",
    )
    r.add_argument("--out", help="output folder (default: miakit-out)")
    r.add_argument("--max-length", type=int, help="most tokens per text (default 2048)")
    r.add_argument("--batch-tokens", type=int, help="most padded tokens per forward batch")
    r.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--dtype", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")
    r.add_argument("--bos", choices=("auto", "always", "never"), help="BOS token policy")
    r.add_argument("--gguf-file", help="GGUF file name inside the --model folder")
    r.add_argument("--reference-gguf-file", help="GGUF file name inside the --reference folder")
    r.add_argument("--text-field", help="name of the text column (default: text)")
    r.add_argument("--id-field", help="name of the id column (default: id)")
    r.add_argument("--label-field", help="name of the label column (default: label)")
    r.add_argument("--cache-dir", help="signal cache folder (default ~/.cache/miakit)")
    r.add_argument("--seed", type=int, help="seed for the bootstrap (default 0)")
    r.add_argument("--n-bootstrap", type=int, help="bootstrap resamples (default 1000)")
    for flag, help_text in (
        ("--no-cache", "neither read nor write the signal cache"),
        ("--allow-overlap", "score texts present among both members and non-members"),
        ("--allow-pickle", "allow pickle checkpoints (they can run code)"),
        ("--trust-remote-code", "allow the model folder's own Python code"),
        ("--no-progress", "hide progress bars"),
    ):
        r.add_argument(flag, action="store_true", default=None, help=help_text)

    ls = sub.add_parser("list", help="list attacks")
    ls.add_argument("what", choices=("attacks",))
    return parser


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
            "attacks",
            "out",
            "max_length",
            "batch_tokens",
            "device",
            "dtype",
            "bos",
            "gguf_file",
            "reference_gguf_file",
            "text_field",
            "id_field",
            "label_field",
            "cache_dir",
            "seed",
            "n_bootstrap",
            "no_cache",
            "allow_overlap",
            "allow_pickle",
            "trust_remote_code",
        )
    }
    if args.no_progress:
        flags["progress"] = False
    if args.param:
        params: dict[str, dict[str, Any]] = {}
        for attack, name, value in args.param:
            params.setdefault(attack, {})[name] = value
        flags["attack_params"] = params
    source = f"{args.config} and flags" if args.config else "flags"
    config = make_config(merge(base, flags), source=source)
    run(config)
    return 0


def _list(args: argparse.Namespace) -> int:
    from miakit.attacks import default_registry

    registry = default_registry()
    rows = [("attack", "signals", "hyperparameters", "paper (arXiv)", "summary")]
    for spec in registry:
        params = ", ".join(f"{k}={v!r}" for k, v in spec.params.items()) or "-"
        rows.append((spec.name, ", ".join(map(str, spec.needs)), params, spec.paper, spec.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "list":
            return _list(args)
        raise InvalidParameterError(f"unknown command {args.command!r}")
    except MiakitError as exc:
        print(f"miakit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("miakit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
