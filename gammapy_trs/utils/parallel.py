"""The one runner of every parallel loop: tasks run in turn or in parallel, each result handed over
as it finishes.

Gammapy's `~gammapy.utils.parallel.run_multiprocessing` returns only when every
task is done, and waits forever if a worker process dies. A `Runner`, with the
same settings (``n_jobs``, ``parallel_backend`` and Gammapy's defaults), keeps
its workers for the whole loop, sends each task's data once, hands every
result to ``on_result`` (e.g. a checkpoint) as soon as it is done, and stops
within seconds with a `WorkerLostError` that names the lost tasks and holds
the finished ones where a worker dies (killed, out of memory). Workers end
with the process that started them, even where it is killed with SIGKILL
(a parent-death signal on Linux, and a watchdog thread in each worker).

Where processes start by ``fork`` (Linux), the workers inherit the tasks
from this process and are sent only their indices: pickling a bin's datasets
and reading them back costs a third of a fast fit. Elsewhere (``spawn``,
Ray) each task is sent with its data, once. Results that come back from Ray
are copied, so that their arrays are writable.

A loop shows one progress bar (`progress`); Gammapy's own bars inside it
(e.g. those of its estimators) are silenced while it runs.
"""

import concurrent.futures
import contextlib
import copy
import ctypes
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import warnings
from concurrent.futures.process import BrokenProcessPool
import gammapy.utils.parallel as parallel
from gammapy.utils import pbar

__all__ = ["Runner", "WorkerLostError", "progress", "quiet_progress"]

log = logging.getLogger(__name__)

WATCHDOG_INTERVAL = 0.5
"""Seconds between a worker's checks that the process that started it is alive."""


class WorkerLostError(RuntimeError):
    """A worker process died; ``results`` holds the finished tasks by index, ``lost`` the others."""

    def __init__(self, message, results, lost):
        super().__init__(message)
        self.results = results
        self.lost = lost


@contextlib.contextmanager
def quiet_progress():
    """Within the block, Gammapy's progress bars are not shown (e.g. inside one of ours)."""
    shown = pbar.SHOW_PROGRESS_BAR
    pbar.SHOW_PROGRESS_BAR = False
    try:
        yield
    finally:
        pbar.SHOW_PROGRESS_BAR = shown


def progress(iterable, desc=""):
    """Gammapy's progress bar over ``iterable`` (shown where ``gammapy.utils.pbar.SHOW_PROGRESS_BAR``
    is set), each item yielded with Gammapy's own bars silenced.

    tqdm's warning that a notebook has no widgets (it then prints text) is not shown.

    Parameters
    ----------
    iterable : iterable
        Items.
    desc : str, optional
        Label of the bar; None for no bar (Gammapy's bars are silenced all the same).
        Default is "".

    Yields
    ------
    item : object
        Each item.
    """
    if desc is None:  # no bar of its own: a stage's bar around it counts
        bar = iterable
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            bar = pbar.progress_bar(iterable, desc=desc)
    for item in bar:
        with quiet_progress():
            yield item


def _watch_parent(parent_pid):
    """In a worker: end it when the process that started it ends (SIGKILL included)."""
    with contextlib.suppress(Exception):  # Linux only: the kernel signals the worker at once
        if os.getppid() == parent_pid:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    def watch():
        while True:
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # a process of another user took the number: ours is gone
                os._exit(1)
            threading.Event().wait(WATCHDOG_INTERVAL)

    threading.Thread(target=watch, daemon=True, name="gammapy-trs-parent-watchdog").start()


@dataclasses.dataclass(frozen=True)
class Runner:
    """Runs a function on tasks, in turn or in parallel, with one progress bar.

    Parameters
    ----------
    n_jobs : int, optional
        Number of processes. Default is None, `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    backend : {"multiprocessing", "ray"}, optional
        Backend. Default is None, `~gammapy.utils.parallel.BACKEND_DEFAULT`.
    """

    n_jobs: object = None
    backend: object = None

    def __post_init__(self):
        if self.n_jobs is not None:
            n_jobs = self.n_jobs
            if isinstance(n_jobs, bool) or not float(n_jobs).is_integer() or int(n_jobs) < 1:
                raise ValueError(f"n_jobs must be a whole number of at least 1 (or None), got {n_jobs!r}.")
            object.__setattr__(self, "n_jobs", int(n_jobs))
        if self.backend is not None:
            parallel.ParallelBackendEnum.from_str(self.backend)  # a clear error for an unknown name

    @property
    def parallel_backend(self):
        """The backend, a `~gammapy.utils.parallel.ParallelBackendEnum`."""
        return parallel.ParallelBackendEnum.from_str(self.backend or parallel.BACKEND_DEFAULT)

    def processes(self, n_tasks=None):
        """The number of processes a loop of ``n_tasks`` tasks runs on (1 inside a worker)."""
        n_jobs = parallel.N_JOBS_DEFAULT if self.n_jobs is None else self.n_jobs
        if self.parallel_backend == parallel.ParallelBackendEnum.multiprocessing:
            if multiprocessing.current_process().name != "MainProcess":
                return 1  # a worker cannot have children
            n_jobs = min(n_jobs, multiprocessing.cpu_count())
        if n_tasks is not None:
            n_jobs = min(n_jobs, n_tasks)
        return max(int(n_jobs), 1)

    def run(self, function, tasks, on_result=None, desc=None):
        """Run ``function(task)`` for each task.

        Parameters
        ----------
        function : callable
            Function of one task, picklable for parallel runs.
        tasks : dict of int to object
            The tasks, by index.
        on_result : callable, optional
            Called as ``on_result(index, result)`` in this process as each task
            finishes. Default is None.
        desc : str, optional
            Label of the progress bar, one per stage of a run. Default is None: no bar.

        Returns
        -------
        results : dict of int to object
            Result of each task, by index.

        Raises
        ------
        WorkerLostError
            If a worker process died.
        """
        results = {}

        def done(index, result):
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        n_jobs = self.processes(len(tasks))
        if n_jobs == 1:
            for index in progress(list(tasks), desc=desc):
                done(index, function(tasks[index]))
            return results
        backend = self.parallel_backend
        log.info(f"Using {n_jobs} processes ({backend.value}) to compute {desc or 'the tasks'}")
        if backend == parallel.ParallelBackendEnum.ray:
            _run_ray(function, tasks, n_jobs, done, desc)
        else:
            _run_processes(function, tasks, n_jobs, done, desc)
        return results


def _lost(tasks, results, cause):
    lost = sorted(set(tasks) - set(results))
    message = (
        f"A worker process died ({cause}) while computing tasks {lost}; "
        f"{len(results)} of {len(tasks)} finished."
    )
    return WorkerLostError(message, dict(results), lost)


_INHERITED = {}
"""The tasks of the loops in progress, by loop, for workers started by fork."""


def _call_inherited(run_id, index):
    function, tasks = _INHERITED[run_id]
    with quiet_progress():
        return function(tasks[index])


def _call(function, task):
    with quiet_progress():
        return function(task)


def _submit_all(executor, function, tasks, run_id):
    """Submit every task: by index where the workers fork from this process, else with its data."""
    if multiprocessing.get_start_method() == "fork":
        _INHERITED[run_id] = (function, tasks)
        return {executor.submit(_call_inherited, run_id, index): index for index in tasks}
    return {executor.submit(_call, function, task): index for index, task in tasks.items()}


def _run_processes(function, tasks, n_jobs, done, desc):
    finished = {}
    run_id = object().__hash__()
    executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=n_jobs, initializer=_watch_parent, initargs=(os.getpid(),)
    )
    try:
        futures = _submit_all(executor, function, tasks, run_id)
        completed = concurrent.futures.as_completed(futures)
        for _ in progress(list(tasks), desc=desc):
            future = next(completed)
            try:
                result = future.result()
            except BrokenProcessPool as error:
                raise _lost(tasks, finished, f"{error}") from None
            finished[futures[future]] = result
            done(futures[future], result)
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM) or failed: stop the workers instead of waiting for them
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        _INHERITED.pop(run_id, None)


def _init_ray(ray, n_jobs):
    """Start a local Ray instance of ``n_jobs`` CPUs, or connect to the cluster running on this
    machine (``ray start``, or ``RAY_ADDRESS``), which ``ray.init`` finds by itself: as Ray's own
    pool does. Ray refuses a number of CPUs for a cluster it connects to."""
    try:
        ray.init(num_cpus=n_jobs, log_to_driver=False)
    except ValueError as error:
        if "existing cluster" not in str(error):
            raise
        log.info("Connecting to the Ray cluster running on this machine (its CPUs, not n_jobs).")
        ray.init(log_to_driver=False)


def _run_ray(function, tasks, n_jobs, done, desc):
    import ray

    if not ray.is_initialized():
        _init_ray(ray, n_jobs)
    remote = ray.remote(max_retries=0, num_cpus=1)(_call)
    pending = {remote.remote(function, task): index for index, task in tasks.items()}
    finished = {}
    try:
        for _ in progress(list(tasks), desc=desc):
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            try:
                # Ray's arrays are read-only views of its object store: a copy is the result's own
                result = copy.deepcopy(ray.get(ref))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as error:
                raise _lost(tasks, finished, type(error).__name__) from None
            finished[index] = result
            done(index, result)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
