"""Running one case of ``benchmarks/e2e.py``: a fresh ``python -m miakit run`` process.

Each code under test (:class:`Version`) gets its own folders for the machine-level caches
(Inductor, Triton, matplotlib, Hugging Face), so a second code does not find the first's
kernels or fonts; the ``first`` case starts them empty and drops the page cache of the
weights, the source tree and the libraries (:func:`evict`). The child's wall time, exit status,
peak RSS and CPU seconds come from ``wait4``; its ``metrics.json`` gives ``setup.timings``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUITE = "loss,zlib,min_k,min_k_plus_plus,reference,recall,dc_pdd"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    texts: str  # set name in DATA/sets
    n: int  # texts (``--small``: n_small)
    n_small: int
    cache: str = "c1"
    job: str = "suite"  # or "loss"
    blind: bool = True
    target: str = "target"
    cold: bool = False
    target_s: float | None = None  # issue 15's target


LIBS = (
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "matplotlib",
    "tokenizers",
    "safetensors",
    "triton",
    "jinja2",
    "datasketch",
    "nvidia",
)


def log(msg: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def src_of(path: Path) -> Path:
    """The folder to put on PYTHONPATH for a source tree (``DIR/src/miakit`` or
    ``DIR/miakit``)."""
    for cand in (path / "src", path):
        if (cand / "miakit" / "__init__.py").is_file():
            return cand.resolve()
    raise SystemExit(
        f"{path} holds no miakit source tree (expected {path}/src/miakit); see "
        "`python benchmarks/e2e.py prepare --help`"
    )


class Version:
    """One code under test: its source tree, its own machine-state folders."""

    def __init__(self, name: str, src: Path, scratch: Path, threads: int | None = None) -> None:
        self.name, self.src, self.threads = name, src, threads
        self.home = scratch / name
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        self.timings = False

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        extra = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = str(self.src) + (os.pathsep + extra if extra else "")
        m = self.home / "machine"
        env.update(
            PYTHONUNBUFFERED="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HOME=str(m / "hf"),
            TORCHINDUCTOR_CACHE_DIR=str(m / "inductor"),
            TRITON_CACHE_DIR=str(m / "triton"),
            MPLCONFIGDIR=str(m / "mpl"),
            XDG_CACHE_HOME=str(m / "xdg"),
            # bytecode of every module (torch's, transformers', miakit's) cached as on any
            # machine whose site-packages is writable or was compiled at install: the GPU
            # image's is neither, and there each process recompiled ~2,700 modules (8.6 s)
            PYTHONPYCACHEPREFIX=str(m / "pycache"),
        )
        # the GPU image also sets PYTHONDONTWRITEBYTECODE=1 (measured: torch 7.2 s and
        # transformers 20 s to import without bytecode, 1.7 s and 6.0 s with it), so the
        # prefix above stayed empty: let the processes write it, as pip does at install
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        return env

    def probe(self) -> None:
        cmd = [sys.executable, "-c", "import miakit; print(miakit.__file__)"]
        where = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, check=False)
        if where.returncode or not where.stdout.strip().startswith(str(self.src)):
            raise SystemExit(
                f"{self.name}: `import miakit` does not load {self.src}: "
                f"{where.stdout.strip()} {where.stderr.strip()[-500:]}"
            )
        cmd = [sys.executable, "-m", "miakit", "run", "--help"]
        out = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, check=False)
        self.timings = "--timings" in out.stdout
        log(f"{self.name}: {self.src} (--timings: {'yes' if self.timings else 'no'})")


def evict(paths: list[Path], mode: str) -> str:
    """Drop the page cache (``drop``: the kernel's whole cache, falling back to ``fadvise``:
    POSIX_FADV_DONTNEED on every file under ``paths``). Returns what was done."""
    if mode == "none":
        return "none"
    if mode == "drop":
        os.sync()
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            return "drop_caches"
        except OSError:
            pass
    n = 0
    for root in paths:
        for dirpath, _, files in os.walk(root):
            for f in files:
                try:
                    fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    n += 1
                except OSError:
                    pass
                finally:
                    os.close(fd)
    return f"fadvise ({n} files)"


def lib_dirs() -> list[Path]:
    """The folders the libraries are installed in (found without importing them)."""
    out = set()
    for name in LIBS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a broken install: nothing to evict for it
            continue
        if spec is not None and spec.submodule_search_locations:
            out.add(Path(next(iter(spec.submodule_search_locations))).parent)
    return sorted(out)


def split_files(data: Path, scratch: Path, texts: str, n: int) -> tuple[Path, Path]:
    """Members (even rows) and non-members (odd rows) of the first ``n`` texts of a set."""
    m, nm = scratch / "inputs" / f"{texts}{n}_m.jsonl", scratch / "inputs" / f"{texts}{n}_n.jsonl"
    if not m.is_file():
        m.parent.mkdir(parents=True, exist_ok=True)
        rows = (data / "sets" / f"{texts}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        if len(rows) < n:
            raise SystemExit(f"{data}/sets/{texts}.jsonl has {len(rows)} texts, not {n}")
        m.write_text("\n".join(rows[0::2]) + "\n", encoding="utf-8")
        nm.write_text("\n".join(rows[1::2]) + "\n", encoding="utf-8")
    return m, nm


def command(case: Case, v: Version, run_dir: Path, ctx: dict[str, Any]) -> list[str]:
    m, nm = split_files(ctx["data"], ctx["scratch"], case.texts, ctx["n"](case))
    cmd = [
        sys.executable,
        "-m",
        "miakit",
        "run",
        "--model",
        str(ctx["models"][case.target]),
        "--members",
        str(m),
        "--nonmembers",
        str(nm),
        "--out",
        str(run_dir / "out"),
        "--cache-dir",
        str(v.home / case.cache),
        "--no-progress",
        "--device",
        ctx["device"],
    ]
    if case.job == "suite":
        cmd += [
            "--reference",
            str(ctx["models"]["reference"]),
            "--attacks",
            SUITE,
            "--aux-nonmembers",
            str(ctx["data"] / "aux_nonmembers.jsonl"),
            "--recall-shots",
            "1",
            "--frequency-corpus",
            str(ctx["data"] / "frequency_corpus.jsonl"),
        ]
    else:
        cmd += ["--attacks", "loss"]
    if not case.blind:
        cmd.append("--no-blind")
    if v.timings:
        cmd.append("--timings")
    return cmd


def wait(proc: subprocess.Popen, deadline: float) -> tuple[int | str, Any]:
    """``(exit status or "timeout", the child's rusage)``; past ``deadline`` (perf_counter)
    the child's whole process group is killed (the run and any compile workers it started)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "timeout", None
        time.sleep(0.005)


def run_one(case: Case, v: Version, ctx: dict[str, Any], timeout: float) -> dict[str, Any]:
    run_dir = v.home / "runs" / case.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    rec: dict[str, Any] = {"case": case.name, "version": v.name, "texts": ctx["n"](case)}
    if case.cold:
        for pyc in v.src.rglob("__pycache__"):
            shutil.rmtree(pyc, ignore_errors=True)
        shutil.rmtree(v.home / "machine" / "pycache", ignore_errors=True)  # fresh machine
        paths = [*ctx["models"].values(), v.src, *lib_dirs()]
        rec["evicted"] = evict(paths, ctx["cold"])
    cmd = command(case, v, run_dir, ctx)
    logf = run_dir / "log.txt"
    with open(logf, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=v.env(),
            cwd=run_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        rc, usage = wait(proc, t0 + timeout)
        rec["wall_s"] = round(time.perf_counter() - t0, 3)
    rec["rc"] = rc
    if usage is not None:  # this child's own: peak RSS (a loaded model shows), CPU seconds
        rec["max_rss_gb"] = round(usage.ru_maxrss / 2**20, 3)
        rec["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    text = logf.read_text(errors="replace")
    if rc != 0:
        rec["log_tail"] = text[-3000:]
    metrics = run_dir / "out" / "metrics.json"
    if metrics.is_file():
        data = json.loads(metrics.read_text())
        timings = data.get("setup", {}).get("timings")
        rec["timings"] = timings
        if timings:
            # load:ROLE is the tokenizer and fingerprint (and the weights unless they load
            # lazily, inside the first signals:ROLE/* stage): no stage tells a weight load
            rec["load_stages"] = sorted(k[5:] for k in timings if k.startswith("load:"))
            rec["signals_s"] = round(
                sum(s for k, s in timings.items() if k.startswith("signals:")), 3
            )
            rec["outside_run_s"] = round(rec["wall_s"] - timings.get("total", 0.0), 3)
        rec["report"] = (run_dir / "out" / "report.html").is_file()
    rec["argv"] = [Path(a).name if os.sep in a else a for a in cmd[1:]]
    return rec
