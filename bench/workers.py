"""Load-generator processes started once for a whole scenario and handed jobs.

Starting a process (a fresh interpreter importing the harness) costs 1-2 s of the machine's
two cores; the fan-out scenario used to pay it for every level of every setup. A job is a
module-level function and its arguments; it also gets the pool's shared `Signals`, which
must exist before the processes start (multiprocessing queues pass only by inheritance)."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

START_TIMEOUT_S = 120


@dataclass(frozen=True)
class Signals:
    ready: Any  # Queue: a job is set up (a process is up, at the start)
    results: Any  # Queue: what a job measured
    stop: Any  # Queue: one item per job told to finish
    done: Any  # Event: every job still running should finish now


@dataclass(frozen=True)
class Pool:
    jobs: list[Any]  # one queue per process
    procs: list[Any]
    signals: Signals

    def give(self, index: int, job: Callable[..., None], *args: Any) -> None:
        """Run `job(*args, signals)` in process `index`."""
        self.jobs[index].put((job, args))

    def await_ready(self, count: int, timeout_s: float = 300) -> None:
        """Until `count` jobs have said they are ready; fails fast if a process died."""
        waited = 0.0
        while count:
            try:
                self.signals.ready.get(timeout=1)
                count -= 1
            except queue.Empty:
                dead = [p.exitcode for p in self.procs if p.exitcode is not None]
                if dead:
                    raise RuntimeError(f"a generator process exited with {dead[0]}") from None
                waited += 1
                if waited > timeout_s:
                    raise TimeoutError("generator processes did not get ready") from None


@contextmanager
def pool(processes: int) -> Iterator[Pool]:
    ctx = mp.get_context("spawn")
    signals = Signals(ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event())
    jobs = [ctx.Queue() for _ in range(processes)]
    procs = [ctx.Process(target=_serve, args=(q, signals)) for q in jobs]
    for proc in procs:
        proc.start()
    started = Pool(jobs, procs, signals)
    try:
        # Up and idle: a process still starting would take CPU from the first measurement.
        started.await_ready(processes, START_TIMEOUT_S)
        yield started
    finally:
        for q in jobs:
            q.put(None)
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


def _serve(jobs: Any, signals: Signals) -> None:
    signals.ready.put(0)
    while (item := jobs.get()) is not None:
        job, args = item
        job(*args, signals)
