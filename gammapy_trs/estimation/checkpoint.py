"""Checkpoints: each finished bin written at once, so that a run can be resumed.

A checkpoint is a folder with a manifest (``manifest.json``: the fingerprint of
the run's settings and data, and its bins) and one file per finished bin
(``bin-<index>.pkl``), each written to a temporary file in the same folder and
then moved into place (`os.replace`), so that the folder is readable whenever
the run stops: finished, interrupted (Ctrl-C, SIGTERM) or killed. A run with
other settings or other data is refused.
"""

import contextlib
import hashlib
import json
import logging
import pickle
import signal
import threading
from pathlib import Path
import numpy as np
import yaml
from ..utils.files import atomic_write

__all__ = ["Checkpoint", "CheckpointMismatchError", "fingerprint", "sigterm_as_interrupt"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VERSION = 1


class CheckpointMismatchError(ValueError):
    """The checkpoint was made by a run with other settings or other data."""


def _hash_array(digest, array):
    array = np.ascontiguousarray(np.asarray(array))
    digest.update(str((array.dtype.str, array.shape)).encode())
    digest.update(array.tobytes())


def fingerprint(settings, datasets, intervals):
    """A hash of what determines a run's results.

    Parameters
    ----------
    settings : dict
        The estimator's settings that change results (not ``n_jobs``).
    datasets : `~gammapy.datasets.Datasets`
        Datasets with their models: names, GTIs, counts, exposures,
        backgrounds, masks, energy dispersions and model parameters count.
    intervals : list of tuple of `~astropy.time.Time`
        The bins with data.

    Returns
    -------
    fingerprint : str
        Hex digest.
    """
    digest = hashlib.sha256()
    digest.update(yaml.safe_dump(settings, sort_keys=True).encode())
    for model in datasets.models:
        # the parameters as numbers: Gammapy writes an error of 0 as 0 or 0.0 by its history
        digest.update(f"{type(model).__name__}/{model.name}/{model.datasets_names}".encode())
        for par in model.parameters:
            state = (par.name, str(par.unit), par.frozen, par.value, par.error, par.min, par.max)
            digest.update(repr(tuple(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in state)).encode())
    for t_min, t_max in intervals:
        digest.update(f"{t_min.utc.isot}/{t_max.utc.isot}".encode())
    for dataset in datasets:
        digest.update(dataset.name.encode())
        _hash_array(digest, dataset.gti.time_start.mjd)
        _hash_array(digest, dataset.gti.time_stop.mjd)
        for name in ("counts", "counts_off", "exposure", "background", "mask", "acceptance", "acceptance_off"):
            value = getattr(dataset, name, None)
            if value is not None:
                digest.update(name.encode())
                _hash_array(digest, value.data)
        if dataset.edisp is not None:
            _hash_array(digest, dataset.edisp.edisp_map.data)
    return digest.hexdigest()


class Checkpoint:
    """The finished bins of a run, one file each, in a folder.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Folder (made if needed).
    fingerprint : str
        Fingerprint of the run (`fingerprint`).
    n_bins : int
        Number of bins of the run.
    """

    def __init__(self, path, fingerprint, n_bins):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.n_bins = int(n_bins)
        self._open()

    def _open(self):
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"checkpoint {self.path} exists and is not a folder.")
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / MANIFEST
        expected = dict(version=VERSION, fingerprint=self.fingerprint, n_bins=self.n_bins)
        if manifest.exists():
            try:
                found = json.loads(manifest.read_text())
            except ValueError as error:
                raise CheckpointMismatchError(f"checkpoint {self.path}: unreadable manifest ({error}).") from None
            if found != expected:
                raise CheckpointMismatchError(
                    f"checkpoint {self.path} was made by a run with other settings or other data "
                    f"({found.get('n_bins')} bins, fingerprint {str(found.get('fingerprint'))[:12]}; "
                    f"this run: {self.n_bins} bins, {self.fingerprint[:12]}). Use another checkpoint "
                    "folder, or remove this one to start again."
                )
        else:
            atomic_write(manifest, lambda tmp: tmp.write_text(json.dumps(expected)))

    def _file(self, index):
        return self.path / f"bin-{index:06d}.pkl"

    def save(self, index, result):
        """Write the result of bin ``index`` (atomically)."""

        def write(tmp):
            with open(tmp, "wb") as handle:
                pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)

        atomic_write(self._file(index), write)

    def load(self):
        """The finished bins, a dict of index to result; an unreadable file is recomputed."""
        results = {}
        for index in range(self.n_bins):
            path = self._file(index)
            if not path.exists():
                continue
            try:
                with open(path, "rb") as handle:
                    results[index] = pickle.load(handle)
            except Exception as error:  # noqa: BLE001 -- recompute what cannot be read
                log.warning(f"Checkpoint file {path} cannot be read ({error!r}); bin {index} is recomputed.")
        if results:
            log.info(f"Checkpoint {self.path}: {len(results)} of {self.n_bins} bins already done.")
        return results


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises KeyboardInterrupt (in the main thread), like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
