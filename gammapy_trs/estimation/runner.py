"""The per-bin tasks run in turn or in parallel, each result handed over as it finishes.

Gammapy's `~gammapy.utils.parallel.run_multiprocessing` returns only when every
task is done, and waits forever if a worker process dies. Here, with the same
settings (``n_jobs``, ``parallel_backend`` and Gammapy's defaults), the workers
are kept for the whole run, each bin's data is sent once, every result is
handed to ``on_result`` (e.g. a checkpoint) as soon as it is done, and a
worker that dies (killed, out of memory) stops the run within seconds with a
`WorkerLostError` that names the lost bins and holds the finished ones.

Where processes start by ``fork`` (Linux), the workers inherit the tasks
from this process and are sent only their indices: pickling a bin's datasets
and reading them back costs a third of a fast fit. Elsewhere (``spawn``,
Ray) each task is sent with its data, once.
"""

import concurrent.futures
import logging
import multiprocessing
from concurrent.futures.process import BrokenProcessPool
import gammapy.utils.parallel as parallel
from gammapy.utils.pbar import progress_bar

__all__ = ["WorkerLostError", "run_tasks"]

log = logging.getLogger(__name__)


class WorkerLostError(RuntimeError):
    """A worker process died; ``results`` holds the finished tasks by index, ``lost`` the others."""

    def __init__(self, message, results, lost):
        super().__init__(message)
        self.results = results
        self.lost = lost


def _n_jobs(n_jobs, backend):
    n_jobs = parallel.N_JOBS_DEFAULT if n_jobs is None else int(n_jobs)
    if backend == parallel.ParallelBackendEnum.multiprocessing:
        if multiprocessing.current_process().name != "MainProcess":
            return 1  # a worker cannot have children
        n_jobs = min(n_jobs, multiprocessing.cpu_count())
    return max(n_jobs, 1)


def run_tasks(function, tasks, n_jobs=None, backend=None, on_result=None, task_name=""):
    """Run ``function(*task)`` for each task.

    Parameters
    ----------
    function : callable
        Function, picklable for parallel runs.
    tasks : dict of int to tuple
        Arguments of each task, by index.
    n_jobs : int, optional
        Number of processes. Default is None, `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    backend : {"multiprocessing", "ray"}, optional
        Backend. Default is None, `~gammapy.utils.parallel.BACKEND_DEFAULT`.
    on_result : callable, optional
        Called as ``on_result(index, result)`` in this process as each task finishes.
        Default is None.
    task_name : str, optional
        Label of the progress bar. Default is "".

    Returns
    -------
    results : dict of int to object
        Result of each task, by index.

    Raises
    ------
    WorkerLostError
        If a worker process died.
    """
    backend = parallel.ParallelBackendEnum.from_str(backend or parallel.BACKEND_DEFAULT)
    n_jobs = _n_jobs(n_jobs, backend)
    results = {}

    def done(index, result):
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    if n_jobs == 1 or len(tasks) <= 1:
        for index in progress_bar(list(tasks), desc=task_name):
            done(index, function(*tasks[index]))
        return results
    log.info(f"Using {n_jobs} processes ({backend.value}) to compute {task_name}")
    if backend == parallel.ParallelBackendEnum.ray:
        _run_ray(function, tasks, n_jobs, done, task_name)
    else:
        _run_processes(function, tasks, n_jobs, done, task_name)
    return results


def _lost(tasks, results, cause):
    lost = sorted(set(tasks) - set(results))
    message = (
        f"A worker process died ({cause}) while computing tasks {lost}; "
        f"{len(results)} of {len(tasks)} finished."
    )
    return WorkerLostError(message, dict(results), lost)


_INHERITED = {}
"""The tasks of the runs in progress, by run, for workers started by fork."""


def _call_inherited(run_id, index):
    function, tasks = _INHERITED[run_id]
    return function(*tasks[index])


def _submit_all(executor, function, tasks, run_id):
    """Submit every task: by index where the workers fork from this process, else with its data."""
    if multiprocessing.get_start_method() == "fork":
        _INHERITED[run_id] = (function, tasks)
        return {executor.submit(_call_inherited, run_id, index): index for index in tasks}
    return {executor.submit(function, *args): index for index, args in tasks.items()}


def _run_processes(function, tasks, n_jobs, done, task_name):
    finished = {}
    run_id = object().__hash__()
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=n_jobs)
    try:
        futures = _submit_all(executor, function, tasks, run_id)
        completed = concurrent.futures.as_completed(futures)
        for _ in progress_bar(list(tasks), desc=task_name):
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


def _call(function, *args):
    return function(*args)


def _run_ray(function, tasks, n_jobs, done, task_name):
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=n_jobs, log_to_driver=False)
    remote = ray.remote(max_retries=0, num_cpus=1)(_call)
    pending = {remote.remote(function, *args): index for index, args in tasks.items()}
    finished = {}
    try:
        for _ in progress_bar(list(tasks), desc=task_name):
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ref)
            try:
                result = ray.get(ref)
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as error:
                raise _lost(tasks, finished, type(error).__name__) from None
            finished[index] = result
            done(index, result)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
