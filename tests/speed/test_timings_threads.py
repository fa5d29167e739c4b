"""``miakit._core.timing`` across threads: each thread nests its own stages (issue 15)."""

from __future__ import annotations

import contextvars
import threading
import time

from miakit._core.timing import Timings, stage, table


def _in_thread(fn) -> threading.Thread:
    """Run ``fn`` on a new thread in a copy of this thread's context (as the run's worker)."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(fn,))
    thread.start()
    return thread


def test_a_stage_on_another_thread_is_not_taken_off_the_open_stage():
    timings = Timings()

    def worker():
        with stage("background"):
            time.sleep(0.2)

    with timings.active(), timings.stage("main"):
        _in_thread(worker).join()  # "main" is open all the time "background" runs
    got = timings.as_dict()
    assert got["background"] >= 0.2
    # with one stack shared by all threads, "main" lost the worker's 0.2 s
    assert got["main"] >= 0.2


def test_threads_nest_their_stages_independently():
    """Two threads open and close nested stages interleaved: each stage keeps its own time,
    the inner ones taken off their own thread's outer stage only."""
    timings = Timings()
    a_inner_open = threading.Event()
    b_done = threading.Event()

    def a():
        with stage("a_outer"):
            time.sleep(0.05)
            with stage("a_inner"):
                a_inner_open.set()
                b_done.wait(5)
                time.sleep(0.05)

    def b():
        a_inner_open.wait(5)
        with stage("b_outer"), stage("b_inner"):
            time.sleep(0.1)
        b_done.set()

    with timings.active():
        threads = [_in_thread(a), _in_thread(b)]
        for t in threads:
            t.join()
    got = timings.as_dict()
    # a_outer: its own 0.05 s, a_inner (at least 0.15 s) taken off; b_outer: about nothing
    assert got["a_outer"] >= 0.05 and got["a_inner"] >= 0.15
    assert got["a_outer"] < got["a_inner"]
    assert got["b_inner"] >= 0.1 and got["b_outer"] < got["b_inner"]


def test_a_thread_outside_the_runs_context_records_nothing():
    timings = Timings()

    def worker():
        with stage("unseen"):
            pass

    with timings.active():
        thread = threading.Thread(target=worker)  # a fresh context: no active run
        thread.start()
        thread.join()
    assert list(timings.as_dict()) == ["total"]


def test_the_table_marks_the_stages_that_ran_in_the_background():
    got = {"load:target": 1.0, "blind_baselines": 2.0, "overlap": 0.5}
    plain = table({**got, "total": 3.0})
    assert "blind_baselines*" not in plain and "background" not in plain
    marked = table({**got, "integrity_wait": 0.1, "total": 3.0})
    assert "blind_baselines*" in marked and "overlap*" in marked and "load:target*" not in marked
    assert "background thread" in marked.splitlines()[-1]
