"""The fold jobs' thread pool changes nothing: the same scores, p-value and errors with any
number of threads, and the first failing fold's error (issue 15)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pydoc_data.topics import topics

import numpy as np
import pytest

import miakit.blind._folds as folds_module
from miakit.blind import default_baselines, run_blind_baselines
from miakit.blind._folds import make_folds, oof_scores, pool_size, usable_cores


def _texts(n: int) -> list[str]:
    paragraphs = [p.strip() for text in topics.values() for p in text.split("\n\n")]
    return [p for p in paragraphs if 80 <= len(p) <= 600][:n]


def test_pool_size_is_bounded_by_jobs_cores_and_the_cap():
    assert pool_size(1) == 1
    assert pool_size(0) == 1
    assert pool_size(10_000) == max(1, min(usable_cores() - 1, folds_module.MAX_THREADS))


@pytest.mark.parametrize("threads", [1, 3])
def test_results_do_not_depend_on_the_number_of_threads(monkeypatch, threads):
    texts = _texts(120)
    y = np.arange(len(texts)) % 2
    monkeypatch.setattr(folds_module, "MAX_THREADS", 1)
    one = run_blind_baselines(texts, y, n_permutations=19, n_resamples=50)
    monkeypatch.setattr(folds_module, "MAX_THREADS", threads)
    monkeypatch.setattr(folds_module, "usable_cores", lambda: 5)
    monkeypatch.setattr(folds_module, "MIN_CHUNK", 25)  # with 3 threads: 3 row chunks
    many = run_blind_baselines(texts, y, n_permutations=19, n_resamples=50)
    for name, s in one.scores.items():
        np.testing.assert_array_equal(many.scores[name], s)
    assert many.test == one.test
    assert many.metrics == one.metrics


def test_featurization_chunks_are_bounded_on_one_thread_too(monkeypatch):
    # the vectorised hashing holds all n-grams of a call: 100,000 texts at once ran out of memory
    monkeypatch.setattr(folds_module, "MAX_CHUNK", 30)
    sizes: list[int] = []

    class Recorder:
        def featurize(self, texts):
            sizes.append(len(texts))
            return np.zeros((len(texts), 2))

    with ThreadPoolExecutor(1) as pool:
        x = folds_module.featurize(Recorder(), list(map(str, range(100))), pool, threads=1)()
    assert x.shape == (100, 2) and sum(sizes) == 100
    assert len(sizes) >= 4 and max(sizes) <= 30


@pytest.mark.parametrize("name", ["bag_of_words", "char_ngrams", "dates"])
def test_featurized_row_chunks_stack_to_the_one_call_matrix(monkeypatch, name):
    monkeypatch.setattr(folds_module, "MIN_CHUNK", 30)  # 100 texts: 3 chunks
    texts = _texts(100)
    pipeline = default_baselines().get(name).build(seed=0)
    whole = pipeline.featurize(texts)
    with ThreadPoolExecutor(3) as pool:
        chunked = folds_module.featurize(pipeline, texts, pool, threads=3)()
    if name == "dates":
        np.testing.assert_array_equal(chunked, whole)
    else:
        assert (chunked != whole).nnz == 0 and chunked.shape == whole.shape
        np.testing.assert_array_equal(chunked.indptr, whole.indptr)
        np.testing.assert_array_equal(chunked.indices, whole.indices)


def test_pooled_folds_equal_sequential_folds_and_raise_the_first_failing_fold():
    texts = _texts(60)
    pipeline = default_baselines().get("char_ngrams").build(seed=0)
    x = pipeline.featurize(texts)
    labels = np.stack([np.arange(60) % 2, np.arange(60) // 30], axis=1)
    folds = make_folds(60, 4, seed=1)
    with ThreadPoolExecutor(3) as pool:
        pooled = oof_scores(pipeline, x, labels, folds, pool)()
    np.testing.assert_array_equal(pooled, oof_scores(pipeline, x, labels, folds)())

    class Fails:
        """A transformer that cannot be fitted on folds 1 and 2 (of 0..3)."""

        def __init__(self, fold: int = -1) -> None:
            self.fold = fold

        def get_params(self, deep: bool = True) -> dict[str, int]:
            return {"fold": self.fold}

        def set_params(self, **params: int) -> Fails:
            self.fold = params["fold"]
            return self

        def fit_transform(self, x_train):
            first_test_row = next(i for i in range(60) if i not in set(x_train_rows(x_train)))
            fold = next(f for f, (_, test) in enumerate(folds) if first_test_row in test)
            if fold in (1, 2):
                raise ValueError(f"fold {fold} cannot be fitted")
            return x_train

        def transform(self, x_test):
            return x_test

    def x_train_rows(x_train):
        return x_train[:, -1].toarray().ravel().astype(int).tolist()

    import scipy.sparse as sp

    from miakit.blind import BlindPipeline

    tagged = sp.hstack([x, sp.csr_matrix(np.arange(60.0)[:, None])]).tocsr()
    failing = BlindPipeline(featurize=pipeline.featurize, transform=Fails())
    with ThreadPoolExecutor(4) as pool, pytest.raises(ValueError, match="fold 1 cannot"):
        oof_scores(failing, tagged, labels, folds, pool)()


def test_the_pool_threads_are_daemons_and_hand_back_results_and_errors():
    from miakit.blind._pool import DaemonPool

    def boom():
        raise KeyError("x")

    with DaemonPool(3, "t") as pool:
        assert all(t.daemon for t in pool._threads)  # a failing run exits without them
        futures = [pool.submit(pow, 2, i) for i in range(10)]
        failed = pool.submit(boom)
        assert [f.result() for f in futures] == [2**i for i in range(10)]
        with pytest.raises(KeyError):
            failed.result()
    assert not any(t.is_alive() for t in pool._threads)


SLOW_FOLDS = """
import threading, time
import numpy as np
from miakit.blind import BaselineRegistry, BlindPipeline, run_blind_baselines

class Slow:
    def get_params(self, deep=True): return {}
    def set_params(self, **p): return self
    def fit_transform(self, x): time.sleep(120); return x
    def transform(self, x): return x

registry = BaselineRegistry()
@registry.register("slow", paper="-")
def slow(*, seed): return BlindPipeline(featurize=lambda t: np.ones((len(t), 2)), transform=Slow())

texts, y = [f"text {i}" for i in range(40)], np.arange(40) % 2
worker = threading.Thread(target=run_blind_baselines, args=(texts, y),
                          kwargs={"registry": registry}, daemon=True)
worker.start()
deadline = time.time() + 60
while time.time() < deadline and not any(
    t.name.startswith("miakit-blind") for t in threading.enumerate()
):
    time.sleep(0.05)
time.sleep(0.5)  # the fold jobs are running (and queued): now the run "fails"
"""


def test_a_process_exits_without_waiting_for_running_fold_jobs():
    # A ThreadPoolExecutor's workers are joined at exit after every queued job (10 minutes
    # here); the daemon pool's are not, so a run that fails meanwhile exits at once.
    import subprocess
    import sys
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SLOW_FOLDS], check=True, timeout=100)
    assert time.perf_counter() - start < 60
