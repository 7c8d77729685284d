"""Arrays of on-off datasets computed as Gammapy computes them, without its intermediate maps."""

import numpy as np
import astropy.units as u
from astropy.table import Table
from gammapy.datasets import MapDatasetOnOff

__all__ = ["background_values", "stack_onoff_spectra"]


def background_values(dataset):
    """The values of ``dataset.background``, on the arrays for an on-off dataset.

    Gammapy's `~gammapy.datasets.MapDatasetOnOff.background` is ``alpha *
    counts_off``, ``alpha`` the ratio of the ON and OFF acceptances with
    infinities replaced by the largest float and NaN by zero
    (`numpy.nan_to_num`); the property builds two maps on the way. Other
    datasets give their background map's values.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset.

    Returns
    -------
    values : `~numpy.ndarray` or None
        Background values, None where the dataset has none.
    """
    if isinstance(dataset, MapDatasetOnOff):
        if dataset.counts_off is None or dataset.acceptance is None or dataset.acceptance_off is None:
            return None
        alpha = _alpha(dataset.acceptance.quantity, dataset.acceptance_off.quantity)
        return alpha * np.asarray(dataset.counts_off.data, dtype=float)
    background = dataset.background
    return None if background is None else np.asarray(background.data, dtype=float)


def _add(total, data, weights=None):
    """``total += data`` as Gammapy's region map ``stack`` adds (in ``total``'s dtype, non-finite
    values as zero, times the weights)."""
    data = np.asarray(data).astype(total.dtype)
    not_finite = ~np.isfinite(data)
    if np.any(not_finite):
        data = data.copy()
        data[not_finite] = 0
    if weights is not None:
        data = data * weights
    total += data


def _alpha(acceptance, acceptance_off):
    """``MapDatasetOnOff.alpha``'s values: the ratio of the acceptances (arrays or quantities),
    infinities as the largest float and NaN as zero (`numpy.nan_to_num`)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.nan_to_num(acceptance / acceptance_off)
    return ratio.to_value("") if isinstance(ratio, u.Quantity) else ratio


_PRODUCTS = ("counts", "counts_off", "acceptance", "acceptance_off", "exposure", "mask_safe", "gti")


def _same_meta_columns(table, first):
    """Whether two meta tables join as Gammapy joins them (both absent, or one row of the same columns)."""
    if table is None or first is None:
        return table is None and first is None
    return table.colnames == first.colnames and len(table) == 1 and len(first) == 1


def _stackable(datasets):
    """Whether `stack_onoff_spectra` stacks these datasets (else Gammapy's ``stack_reduce`` does)."""
    first = datasets[0]
    if not isinstance(first, MapDatasetOnOff) or not first.counts.geom.is_region:
        return False
    if any(getattr(first, name) is None for name in _PRODUCTS) or first.psf is not None:
        return False
    edisp = first.edisp
    if getattr(edisp, "exposure_map", None) is None or not hasattr(edisp, "edisp_map"):
        return False

    def same(d):
        return (
            type(d) is type(first)
            and all(getattr(d, name) is not None for name in _PRODUCTS)
            and d.psf is None
            and type(d.edisp) is type(edisp)
            and d.edisp.exposure_map is not None
            and all(
                getattr(d, name).geom == getattr(first, name).geom and getattr(d, name).unit == getattr(first, name).unit
                for name in ("counts", "counts_off", "acceptance", "acceptance_off", "exposure", "mask_safe")
            )
            and d.edisp.edisp_map.geom == edisp.edisp_map.geom
            and d.edisp.edisp_map.unit == edisp.edisp_map.unit
            and d.edisp.exposure_map.unit == edisp.exposure_map.unit
            and (d.mask_fit is None) == (first.mask_fit is None)
            and _same_meta_columns(d.meta_table, first.meta_table)
        )

    return all(same(d) for d in datasets)


def stack_onoff_spectra(datasets, name=None):
    """`~gammapy.datasets.Datasets.stack_reduce` of on-off spectra, on arrays: the same numbers.

    Gammapy stacks on-off datasets one by one (`~gammapy.datasets.MapDatasetOnOff.stack`),
    each step building a dozen intermediate maps, 8 ms a dataset. Here the first dataset is
    Gammapy's ``to_masked`` and each further one is added by the same operations on the arrays,
    in the same order and dtypes: counts, OFF counts and ON acceptance in its safe mask; the
    OFF acceptance from the alphas weighted by the OFF counts; the exposure where its safe mask
    is not empty, with its livetime; the energy dispersion kernels weighted by their exposure;
    the safe and fit masks joined; then the GTIs united and the meta tables joined.

    Parameters
    ----------
    datasets : list of `~gammapy.datasets.SpectrumDatasetOnOff`
        Datasets on one region geometry, with their energy dispersion kernels and safe masks
        (not changed).
    name : str, optional
        Name of the stacked dataset. Default is None.

    Returns
    -------
    stacked : `~gammapy.datasets.SpectrumDatasetOnOff` or None
        The stacked dataset, or None where the datasets are not of that kind (PSF maps, other
        geometries or units, missing products, fit masks on some only): Gammapy's
        ``stack_reduce`` stacks them.
    """
    datasets = list(datasets)
    if not datasets or not _stackable(datasets):
        return None
    stacked = datasets[0].to_masked(name=name)
    sums = _Sums(stacked)
    for other in datasets[1:]:
        weights = np.asarray(other.mask_safe.data, dtype=bool)
        sums.add_off(other, weights)
        sums.add_products(other, weights)
    sums.write_to(stacked)
    gti = stacked.gti
    for other in datasets[1:]:
        gti.stack(other.gti)
    stacked.gti = gti.union()  # the union of the GTIs, as the union at each step gives
    tables = [d.meta_table for d in datasets]
    if tables[0] is not None:
        stacked.meta_table = Table({col: np.hstack([t[col].data[0] for t in tables])[np.newaxis, :] for col in tables[0].colnames})
    return stacked


class _Sums:
    """The running sums of a stack of on-off spectra: copies of the stacked dataset's arrays,
    added to in its dtypes as Gammapy's ``stack`` adds to its maps."""

    def __init__(self, stacked):
        self.counts, self.off, self.acceptance, self.acceptance_off, self.exposure, self.mask = (
            getattr(stacked, name).data.copy()
            for name in ("counts", "counts_off", "acceptance", "acceptance_off", "exposure", "mask_safe")
        )
        self.kernel, self.kernel_exposure = stacked.edisp.edisp_map.data.copy(), stacked.edisp.exposure_map.data.copy()
        self.mask_fit = None if stacked.mask_fit is None else stacked.mask_fit.data.copy()
        self.livetime = stacked.exposure.meta.get("livetime")

    def add_off(self, other, weights):
        """`~gammapy.datasets.MapDatasetOnOff.stack`: the OFF counts and the acceptances."""
        total_off, total_alpha, total_acceptance = (np.zeros(self.off.shape, dtype="float32") for _ in range(3))
        _add(total_acceptance, self.acceptance)
        _add(total_acceptance, other.acceptance.data, weights)
        _add(total_off, self.off)
        _add(total_alpha, _alpha(self.acceptance, self.acceptance_off) * self.off)
        _add(total_off, other.counts_off.data, weights)
        _add(total_alpha, _alpha(other.acceptance.data, other.acceptance_off.data) * other.counts_off.data, weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            acceptance_off = total_acceptance * total_off / total_alpha
            average_alpha = total_alpha.sum() / total_off.sum()
        is_zero = total_off == 0
        acceptance_off[is_zero] = total_acceptance[is_zero] / average_alpha
        self.acceptance[...] = total_acceptance
        self.acceptance_off, self.off = acceptance_off, total_off

    def add_products(self, other, weights):
        """`~gammapy.datasets.MapDataset.stack`: counts, exposure and livetime, energy dispersion, masks."""
        _add(self.counts, other.counts.data, weights)
        image = np.logical_or.reduce(weights, axis=0)  # the mask_safe_image
        _add(self.exposure, other.exposure.data, image)
        livetime = other.exposure.meta.get("livetime")
        if livetime is not None and np.any(image):
            self.livetime = livetime.copy() if self.livetime is None else self.livetime + livetime
        self.kernel *= self.kernel_exposure
        _add(self.kernel, other.edisp.edisp_map.data * other.edisp.exposure_map.data, weights)
        _add(self.kernel_exposure, other.edisp.exposure_map.data, np.logical_or.reduce(weights, axis=0, keepdims=True))
        with np.errstate(invalid="ignore"):
            self.kernel /= self.kernel_exposure
            self.kernel = np.nan_to_num(self.kernel)
        self.mask |= weights
        if self.mask_fit is not None:
            self.mask_fit |= np.asarray(other.mask_fit.data, dtype=bool)

    def write_to(self, stacked):
        """Give the stacked dataset's maps these sums."""
        maps = dict(
            counts=stacked.counts, off=stacked.counts_off, acceptance=stacked.acceptance,
            acceptance_off=stacked.acceptance_off, exposure=stacked.exposure, mask=stacked.mask_safe,
            kernel=stacked.edisp.edisp_map, kernel_exposure=stacked.edisp.exposure_map,
        )
        for name, m in maps.items():
            m.data = getattr(self, name)
        if self.mask_fit is not None:
            stacked.mask_fit.data = self.mask_fit
        if self.livetime is not None:
            stacked.exposure.meta["livetime"] = self.livetime
