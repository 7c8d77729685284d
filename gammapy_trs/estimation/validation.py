"""Checks of the estimator's inputs, made at the call, before any fit."""

import numpy as np
import astropy.units as u
from gammapy.datasets import Dataset, Datasets, MapDataset, MapDatasetOnOff
from gammapy.modeling.models import SkyModel, SpectralModel
from ..utils.onoff import background_values

__all__ = [
    "check_n_bins",
    "choice",
    "duration",
    "energy",
    "energy_edges",
    "energy_range",
    "model_or_none",
    "positive",
    "probability",
    "selection",
    "source_model",
    "threshold",
    "validate_datasets",
]


def energy(value, name):
    """``value`` as a positive energy `~astropy.units.Quantity`, or a ValueError naming ``name``."""
    try:
        quantity = u.Quantity(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an energy such as '1 TeV', got {value!r}.") from error
    if not quantity.unit.is_equivalent(u.TeV) or quantity.size != 1 or not np.isfinite(quantity):
        raise ValueError(f"{name} must be one finite energy such as '1 TeV', got {value!r}.")
    if not quantity > 0:
        raise ValueError(f"{name} must be a positive energy such as '1 TeV', got {value!r}.")
    return quantity


def energy_edges(value, name):
    """``value`` as at least two increasing positive energies (TeV), or a ValueError naming ``name``."""
    try:
        edges = u.Quantity(value, "TeV").ravel()
    except (TypeError, ValueError, u.UnitsError) as error:
        raise ValueError(f"{name} must be energies such as [0.4, 1, 3, 10] * u.TeV, got {value!r}.") from error
    if edges.size < 2 or not np.all(np.isfinite(edges)) or not np.all(edges > 0):
        raise ValueError(f"{name} must be at least two finite positive energies, got {value!r}.")
    if not np.all(np.diff(edges) > 0):
        raise ValueError(f"{name} must be strictly increasing (no duplicate), got {edges}.")
    return edges


def duration(value, name):
    """``value`` as a non-negative time `~astropy.units.Quantity`, or a ValueError naming ``name``."""
    try:
        quantity = u.Quantity(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a duration such as '1e-6 s', got {value!r}.") from error
    if not quantity.unit.is_equivalent(u.s) or quantity.size != 1 or not np.isfinite(quantity) or quantity < 0:
        raise ValueError(f"{name} must be one non-negative duration such as '1e-6 s', got {value!r}.")
    return quantity


def threshold(value, name):
    """``value`` as a float that is not NaN (infinite allowed), or a ValueError naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a number (inf allowed), got {value!r}.") from error
    if np.isnan(value):
        raise ValueError(f"{name} must be a number (inf allowed), not NaN.")
    return value


def choice(value, name, choices):
    """``value`` if it is one of ``choices``, or a ValueError naming ``name`` and them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
    return value


def selection(value, available):
    """The optional steps of ``selection_optional``: None (none), "all", a step name or a list of them.

    Parameters
    ----------
    value : None, str or list of str
        Selection.
    available : list of str
        The step names.

    Returns
    -------
    selection : list of str
        The selected steps.
    """
    if value is None:
        return []
    if isinstance(value, str):
        value = list(available) if value == "all" else [value]
    value = list(value)
    if "all" in value:
        return list(available)
    unknown = [name for name in value if name not in available]
    if unknown:
        raise ValueError(f"selection_optional {unknown} are not steps; choose among {list(available)} or 'all'.")
    return value


def positive(value, name):
    """``value`` as a positive finite float, or a ValueError naming ``name``."""
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a positive number, got {value!r}.") from error
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")
    return value


def energy_range(energy_min, energy_max):
    """``energy_min`` and ``energy_max`` as energies, the first below the second."""
    energy_min, energy_max = energy(energy_min, "energy_min"), energy(energy_max, "energy_max")
    if not energy_min < energy_max:
        raise ValueError(f"energy_min ({energy_min}) must be below energy_max ({energy_max}).")
    return energy_min, energy_max


def model_or_none(value, name):
    """A spectral or sky model, or None; a TypeError naming ``name`` otherwise."""
    if value is not None and not isinstance(value, (SpectralModel, SkyModel)):
        raise TypeError(f"{name} must be a SpectralModel or a SkyModel, got {type(value).__name__}.")
    return value


def probability(value, name):
    """A probability strictly between 0 and 1, a float."""
    value = float(value)
    if not 0 < value < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}.")
    return value


def check_n_bins(n_bins, max_bins):
    """A ValueError if ``n_bins`` is above ``max_bins``."""
    if max_bins is not None and n_bins > max_bins:
        raise ValueError(
            f"{n_bins} time bins is more than max_bins={max_bins}: use wider bins, or raise "
            "max_bins if so many bins are meant."
        )


def _check_counts(dataset):
    """Counts (and OFF counts) present, finite and non-negative."""
    for name in ("counts", "counts_off") if isinstance(dataset, MapDatasetOnOff) else ("counts",):
        data = getattr(dataset, name)
        if data is None:
            raise ValueError(f"Dataset {dataset.name!r} has no {name}.")
        if not np.all(np.isfinite(data.data)):
            raise ValueError(f"Dataset {dataset.name!r} has non-finite {name}.")
        if np.any(data.data < 0):
            raise ValueError(f"Dataset {dataset.name!r} has negative {name}.")


def _map_values(dataset, name):
    """The values of one of the dataset's maps, None if it has none (the background on arrays,
    `~gammapy_trs.utils.onoff.background_values`)."""
    if name == "background":
        return background_values(dataset)
    data = getattr(dataset, name, None)
    return None if data is None else np.asarray(data.data, dtype=float)


def _check_maps(dataset):
    """Exposure, background and the ON and OFF acceptances finite and non-negative (in the
    dataset's safe mask, where one is set)."""
    mask = None if dataset.mask_safe is None else np.asarray(dataset.mask_safe.data, dtype=bool)
    names = ["acceptance", "acceptance_off"] if isinstance(dataset, MapDatasetOnOff) else []
    names += ["exposure", "background"]
    for name in names:
        values = _map_values(dataset, name)
        if values is None:
            continue
        if mask is not None and values.shape == mask.shape:
            values = values[mask]
        if not np.all(np.isfinite(values)):
            raise ValueError(f"Dataset {dataset.name!r} has non-finite {name} (NaN or inf).")
        if np.any(values < 0):
            raise ValueError(f"Dataset {dataset.name!r} has negative {name}.")


def validate_datasets(datasets):
    """The datasets as `~gammapy.datasets.Datasets`, checked for what the estimator needs.

    Supported are Gammapy's map and spectrum datasets (`~gammapy.datasets.MapDataset`,
    `~gammapy.datasets.SpectrumDataset`) with a background, and their on-off
    versions with OFF counts, each with a GTI, finite non-negative counts,
    exposure, background and acceptances, and models set.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`, list of `~gammapy.datasets.Dataset` or `~gammapy.datasets.Dataset`
        Datasets.

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        Datasets.
    """
    if isinstance(datasets, Dataset):
        datasets = [datasets]
    if not isinstance(datasets, (Datasets, list, tuple)):
        raise TypeError(
            f"datasets must be a Datasets or a list of Dataset, got {type(datasets).__name__}."
        )
    datasets = Datasets(datasets)
    if len(datasets) == 0:
        raise ValueError("No dataset given.")
    unsupported = {d.name: type(d).__name__ for d in datasets if not isinstance(d, MapDataset)}
    if unsupported:
        raise TypeError(
            f"Unsupported dataset types {unsupported}: the estimator fits counts datasets "
            "(MapDataset, SpectrumDataset and their OnOff versions)."
        )
    no_background = [
        d.name for d in datasets if not isinstance(d, MapDatasetOnOff) and d.background is None
    ]
    if no_background:
        raise ValueError(
            f"Datasets without a background: {no_background}. Give a background map (or use "
            "on-off datasets, e.g. SpectrumDatasetOnOff with OFF counts)."
        )
    missing = [d.name for d in datasets if d.gti is None or len(d.gti.table) == 0]
    if missing:
        raise ValueError(f"Datasets without a GTI cannot be placed in time: {missing}")
    for dataset in datasets:
        _check_counts(dataset)
        _check_maps(dataset)
    if len(datasets.models) == 0:
        raise ValueError(
            "The datasets have no models: set datasets.models to the source model "
            "(and background models for 3D datasets) before running."
        )
    return datasets


def source_model(datasets, source):
    """The source `~gammapy.modeling.models.SkyModel`, by name or index in ``datasets.models``."""
    models = datasets.models
    if isinstance(source, (int, np.integer)):
        if not -len(models) <= source < len(models):
            raise ValueError(
                f"source index {source} is out of range for {len(models)} models: "
                f"{models.names}"
            )
    elif source not in models.names:
        raise ValueError(f"source {source!r} is not in the models: {models.names}")

    model = models[source]
    if not isinstance(model, SkyModel):
        raise TypeError(
            f"source {source!r} is a {type(model).__name__}, not a SkyModel; "
            f"pick the source among {models.names}"
        )
    return model
