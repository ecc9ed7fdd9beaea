"""The process pool shares the work with the main process and keeps the input order."""

from __future__ import annotations

import os
import time

from asyncmend.engine.runner import Pool


def _square_and_pid(n: int) -> tuple[int, int]:
    time.sleep(0.01)  # long enough that the main process takes items while a worker works
    return n * n, os.getpid()


def test_results_in_order_computed_by_the_main_process_and_a_worker() -> None:
    items = list(range(60))
    with Pool(2) as pool:
        results = list(pool.map(_square_and_pid, items))
        workers = pool.executor._processes  # type: ignore[union-attr]
        assert len(workers) == 1  # two jobs: the main process and one worker
    assert [square for square, _ in results] == [n * n for n in items]
    pids = {pid for _, pid in results}
    assert os.getpid() in pids
    assert pids - {os.getpid()}


def test_one_job_runs_in_the_main_process() -> None:
    with Pool(1) as pool:
        results = list(pool.map(_square_and_pid, list(range(30))))
        assert pool.executor is None
    assert {pid for _, pid in results} == {os.getpid()}
