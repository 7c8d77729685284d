"""Checkpoints: each finished bin written at once, so that a run can be resumed.

A checkpoint is a folder with a manifest (``manifest.json``: the fingerprint of
the run's settings and data, and its bins) and one file per finished bin
(``bin-<index>.json``), each written to a temporary file in the same folder and
then moved into place (`os.replace`), so that the folder is readable whenever
the run stops: finished, interrupted (Ctrl-C, SIGTERM) or killed. A run with
other settings or other data is refused.

A bin file is plain JSON (never a pickle: reading it runs no code) that holds
the bin's result with the run's fingerprint, the bin's index and a SHA-256
checksum of its content. A file whose checksum, fingerprint or index is not
this run's own (edited, damaged, swapped with another bin, copied from
another run's checkpoint) is not used: the bin is computed again. Every value
is read back into new, writable objects, whatever the backend that made it.
"""

import hashlib
import json
import logging
from pathlib import Path
import numpy as np
import astropy.units as u
import yaml
from ..result.formats.models import model_from_dict, model_to_dict
from ..utils.files import atomic_write
from .plan import BinResult

__all__ = [
    "Checkpoint",
    "CheckpointMismatchError",
    "bin_result_from_json",
    "bin_result_to_json",
    "fingerprint",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VERSION = 2
BIN_FORMAT = "gammapy-trs checkpoint bin"


def _plain(value):
    """Numpy scalars and arrays (recursively) as plain JSON values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode_value(value):
    if isinstance(value, u.Quantity):
        return {"quantity": float(value.value), "unit": value.unit.to_string()}
    if isinstance(value, (bool, np.bool_)):
        return {"bool": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"int": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"float": float(value)}
    if isinstance(value, str):
        return {"str": value}
    raise TypeError(f"cannot keep a {type(value).__name__} in a checkpoint")


def _decode_value(item):
    kind = next(iter(set(item) - {"unit"}))
    if kind == "quantity":
        return u.Quantity(item["quantity"], item["unit"])
    return {"bool": bool, "int": int, "float": float, "str": str}[kind](item[kind])


def _encode_array(array):
    array = np.asarray(array)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": _plain(array.ravel())}


def _decode_array(item):
    return np.array(item["data"], dtype=np.dtype(item["dtype"])).reshape(item["shape"])


def bin_result_to_json(result, fingerprint, index):
    """A bin's result as the text of a checkpoint file: plain JSON with its checksum.

    Parameters
    ----------
    result : `~gammapy_trs.estimation.plan.BinResult`
        The bin's result.
    fingerprint : str
        The run's fingerprint.
    index : int
        The bin's index.

    Returns
    -------
    text : str
        JSON text.
    """
    payload = dict(
        format=BIN_FORMAT,
        version=VERSION,
        fingerprint=fingerprint,
        index=int(index),
        quantities={name: _encode_value(value) for name, value in result.quantities.items()},
        model=_plain(model_to_dict(result.model)),
        products={
            name: {key: _encode_array(array) for key, array in product.items()}
            for name, product in result.products.items()
        },
    )
    return json.dumps(dict(checksum=_checksum(payload), payload=payload))


def _checksum(payload):
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def bin_result_from_json(text, fingerprint, index):
    """The bin's result of a checkpoint file, verified.

    Parameters
    ----------
    text : str
        The file's text.
    fingerprint : str
        This run's fingerprint.
    index : int
        The bin's index in this run.

    Returns
    -------
    result : `~gammapy_trs.estimation.plan.BinResult`
        The result.

    Raises
    ------
    ValueError
        Where the file is not this run's own file of this bin: not a bin file,
        its checksum does not match its content, or its fingerprint or its
        index are another's.
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("not a checkpoint bin file (not JSON text)") from None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict) or payload.get("format") != BIN_FORMAT:
        raise ValueError("not a checkpoint bin file")
    if data.get("checksum") != _checksum(payload):
        raise ValueError("its checksum does not match its content (edited or damaged)")
    if payload.get("version") != VERSION:
        raise ValueError(f"written by version {payload.get('version')} of the format")
    if payload.get("fingerprint") != fingerprint:
        raise ValueError("it was made by a run with other settings or other data")
    if payload.get("index") != index:
        raise ValueError(f"it holds bin {payload.get('index')}, not bin {index}")
    quantities = {name: _decode_value(item) for name, item in payload["quantities"].items()}
    products = {
        name: {key: _decode_array(item) for key, item in product.items()}
        for name, product in payload["products"].items()
    }
    return BinResult(quantities, model_from_dict(payload["model"]), products)


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
            if not isinstance(found, dict) or found.get("version") != VERSION:
                raise CheckpointMismatchError(
                    f"checkpoint {self.path} was written by another version of gammapy-trs (format "
                    f"{found.get('version') if isinstance(found, dict) else found!r}, this one {VERSION}): "
                    "remove it to start again."
                )
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
        return self.path / f"bin-{index:06d}.json"

    def save(self, index, result):
        """Write the result of bin ``index`` (atomically)."""
        text = bin_result_to_json(result, self.fingerprint, index)
        atomic_write(self._file(index), lambda tmp: tmp.write_text(text))

    def load(self):
        """The finished bins, a dict of index to result; a file that is not this run's own file of
        its bin (unreadable, edited, swapped, foreign) is not used, and the bin is recomputed."""
        results = {}
        for index in range(self.n_bins):
            path = self._file(index)
            if not path.exists():
                continue
            try:
                results[index] = bin_result_from_json(path.read_bytes().decode("utf-8", "replace"), self.fingerprint, index)
            except Exception as error:  # noqa: BLE001 -- recompute what cannot be used
                log.warning(f"Checkpoint file {path} is not used ({error}); bin {index} is recomputed.")
        if results:
            log.info(f"Checkpoint {self.path}: {len(results)} of {self.n_bins} bins already done.")
        return results
