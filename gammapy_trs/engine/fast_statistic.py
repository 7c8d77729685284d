"""A fast joint statistic: Gammapy `Datasets` whose fit statistic is cheap to evaluate."""

import copy

import numpy as np
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.irf import EDispKernelMap
from gammapy.modeling.models import SkyModel
from gammapy.stats import get_wstat_mu_bkg, wstat
from ..utils import gammapy_internals as internals
from .base import copy_models, map_counts_summary, masked_sum
from .plain_spectra import plain_integral

__all__ = ["FitDatasets", "copy_for_fit", "onoff_arrays", "plain_setup"]


def _onoff_fast_path(dataset):
    """Whether the WStat of an on-off spectrum can be computed without Map objects.

    True for a `~gammapy.datasets.SpectrumDatasetOnOff` with OFF counts, a
    kernel energy dispersion, no PSF, and only spectral `SkyModel` components
    (no spatial or temporal model, all IRFs applied).
    """
    if type(dataset) is not SpectrumDatasetOnOff or dataset.counts_off is None:
        return False
    if dataset.psf is not None or not isinstance(dataset.edisp, EDispKernelMap):
        return False
    for evaluator in dataset.evaluators.values():
        model = evaluator.model
        if not isinstance(model, SkyModel) or model.spatial_model or model.temporal_model:
            return False
        if not all(model.apply_irf.values()):
            return False
    return True


def plain_setup(evaluator, state):
    """Per evaluator, made once: the plain integral (or None), the exposure in cm2 s, the
    energy dispersion matrix."""
    key = ("plain", id(evaluator))
    setup = state.get(key)
    if setup is None:
        edges = evaluator.geom.axes["energy_true"].edges
        spectral = evaluator.model.spectral_model
        exposure = evaluator.exposure.quantity.to_value("cm2 s")
        setup = (plain_integral(spectral, edges[:-1], edges[1:]), exposure, evaluator.edisp.pdf_matrix)
        state[key] = setup
    return setup


def _full_npred(evaluator, state, values):
    """Predicted counts of one spectral model: integral, exposure, energy dispersion.

    The integral runs on plain arrays for Gammapy's common spectral models
    (`~gammapy_trs.estimation.plain_spectra.plain_integral`), else through the model.
    """
    integral, exposure, pdf_matrix = plain_setup(evaluator, state)
    if integral is not None:
        flux = integral(values[: len(integral.names)])
        npred = flux.reshape((-1, 1, 1)) * exposure
    else:
        edges = evaluator.geom.axes["energy_true"].edges
        flux = evaluator.model.spectral_model.integral(edges[:-1], edges[1:])
        npred = (flux.reshape((-1, 1, 1)) * evaluator.exposure.quantity).to_value("")
    npred = np.matmul(np.moveaxis(npred, 0, -1), pdf_matrix)
    return np.moveaxis(npred, -1, 0)


def _npred(evaluator, state):
    """Predicted counts with the caching of Gammapy's evaluator, step for step.

    As `~gammapy.datasets.evaluator.MapEvaluator.compute_npred`: unchanged
    parameters give the last result; a zero norm gives zero; a change of the
    norm alone rescales the last full computation; anything else recomputes.
    The numbers are those of Gammapy, so a fit takes the same path.
    """
    parameters = state.get(("parameters", id(evaluator)))
    if parameters is None:  # SkyModel.parameters builds a new object at each access
        parameters = state[("parameters", id(evaluator))] = evaluator.model.parameters
    values = parameters.value
    last = state.get(("last", id(evaluator)))
    if last is not None and np.all(last[0] == values):
        return last[1]

    idx = internals.evaluator_norm_index(evaluator)
    full = state.get(("full", id(evaluator)))
    if idx is not None and values[idx] == 0:
        npred = 0.0
    elif full is not None and idx is not None and evaluator.use_cache and (
        np.count_nonzero(full[0] != values) == 1 and full[0][idx] != values[idx]
    ):
        npred = full[1] * (values[idx] / full[0][idx])
    else:
        npred = _full_npred(evaluator, state, values)
        state[("full", id(evaluator))] = (values, npred)
    state[("last", id(evaluator))] = (values, npred)
    return npred


def onoff_arrays(dataset, state):
    """ON counts, OFF counts, alpha and the mask of an on-off spectrum as arrays, computed once
    (``dataset.alpha`` alone is a Map computation per call); a new mask object recomputes them."""
    key = ("data", id(dataset), id(dataset.mask_safe), id(dataset.mask_fit))
    arrays = state.get(key)
    if arrays is None:
        mask = dataset.mask
        arrays = (
            dataset.counts.data,
            dataset.counts_off.data,
            dataset.alpha.data,
            None if mask is None else mask.data,
        )
        state[key] = arrays
    return arrays


def _onoff_stat_sum(dataset, state):
    """WStat of an on-off spectrum, the same number as ``dataset.stat_sum()``.

    The steps of Gammapy's evaluator for a spectral model and of
    `~gammapy.stats.WStatFitStatistic`, on arrays.
    """
    n_on, n_off, alpha, mask = onoff_arrays(dataset, state)
    mu_sig = np.zeros(n_on.shape)
    for evaluator in dataset.evaluators.values():
        internals.update_evaluator(evaluator, dataset)
        if evaluator.contributes:
            npred = np.asarray(_npred(evaluator, state), dtype=float)
            # Map.stack in Datasets.npred_signal: non-finite values count as zero
            mu_sig += np.where(np.isfinite(npred), npred, 0.0)
    stat = np.nan_to_num(wstat(n_on=n_on, n_off=n_off, alpha=alpha, mu_sig=mu_sig))
    # far from the best fit (the optimiser's probes) npred overflows: nan_to_num clips it to the
    # largest float and the sum is inf, as in Gammapy; that overflow is expected, not reported
    with np.errstate(over="ignore"):
        return float(np.sum(stat[mask] if mask is not None else stat))


class FitDatasets(Datasets):
    """Datasets whose joint fit statistic is cheap to evaluate.

    Gammapy's `~gammapy.datasets.Datasets.stat_sum` adds the priors and
    penalties of ``self.models``, a property that rebuilds the unique models
    and their covariance on every access (up to three times per evaluation).
    In a fit that is most of the time of each evaluation. Here the models
    object is kept as long as the datasets hold the same model objects; the
    parameters are shared, so priors and penalties see the current values and
    the statistic is the same number. On-off spectra with spectral models
    (`_onoff_fast_path`) compute their WStat on arrays; other datasets use
    their own ``stat_sum``.
    """

    def _models_key(self):
        return tuple(id(m) for d in self for m in (d.models or []))

    def _cached_models(self):
        key = self._models_key()
        if getattr(self, "_fit_models_key", None) != key:
            self._fit_models = Datasets.models.fget(self)
            self._fit_models_key = key
            self._fit_parameters = None
            self._fast = [_onoff_fast_path(dataset) for dataset in self]
            self._npred_state = {}
        return self._fit_models

    @property
    def models(self):
        """Unique models (`~gammapy.modeling.models.Models`), kept as long as the datasets hold the
        same model objects (Gammapy's property builds them anew at each access)."""
        return self._cached_models()

    @models.setter
    def models(self, models):
        Datasets.models.fset(self, models)

    @property
    def parameters(self):
        """Unique parameters (`~gammapy.modeling.Parameters`), kept as the models are."""
        models = self._cached_models()
        if self._fit_parameters is None:
            self._fit_parameters = models.parameters.unique_parameters
        return self._fit_parameters

    def fit_models(self):
        """The models of the datasets, kept as long as the datasets hold the same model objects."""
        return self._cached_models()

    @property
    def fast_path(self):
        """Whether each dataset's statistic is computed on arrays (`_onoff_fast_path`), a list."""
        self._cached_models()
        return self._fast

    @property
    def npred_state(self):
        """The arrays cached for the statistic, a dict (emptied when the models change)."""
        self._cached_models()
        return self._npred_state

    def counts_summary(self, source):
        """Counts, excess, predicted counts and predicted source counts summed in the datasets' masks.

        The numbers of ``counts``, ``excess``, ``npred()`` and
        ``npred_signal(model_names=[source])`` of each dataset, on arrays for
        the on-off spectra of the fast path.

        Parameters
        ----------
        source : str
            Name of the source model.

        Returns
        -------
        summary : dict
            ``counts``, ``excess``, ``npred`` and ``npred_signal``.
        """
        summary = dict(counts=0.0, excess=0.0, npred=0.0, npred_signal=0.0)
        for dataset, fast in zip(self, self.fast_path):
            if fast:
                part = _onoff_counts_summary(dataset, self._npred_state, source)
            else:
                part = map_counts_summary(dataset, source)
            for key in summary:
                summary[key] += part[key]
        return summary

    def stat_sum(self):
        """Compute the joint statistic (likelihood, priors and penalties)."""
        models = self._cached_models()
        prior_stat_sum = 0.0
        if models is not None:
            prior_stat_sum = models.parameters.prior_stat_sum()
            for penalty in internals.model_penalties(models):
                prior_stat_sum += penalty.stat_sum()

        stat_sum = 0.0
        for dataset, fast in zip(self, self._fast):
            if fast:
                stat_sum += _onoff_stat_sum(dataset, self._npred_state)
            else:
                stat_sum += dataset.stat_sum()
        return stat_sum + prior_stat_sum


def _onoff_counts_summary(dataset, state, source):
    """As `_map_counts_summary` for an on-off spectrum on the fast path, on its arrays."""
    n_on, n_off, alpha, mask = onoff_arrays(dataset, state)
    mu_sig, mu_source = np.zeros(n_on.shape), np.zeros(n_on.shape)
    for evaluator in dataset.evaluators.values():
        internals.update_evaluator(evaluator, dataset)
        if evaluator.contributes:
            npred = np.asarray(_npred(evaluator, state), dtype=float)
            npred = np.where(np.isfinite(npred), npred, 0.0)
            mu_sig += npred
            if evaluator.model.name == source:
                mu_source += npred
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_bkg = np.nan_to_num(alpha * get_wstat_mu_bkg(n_on, n_off, alpha, mu_sig))
    return dict(
        counts=masked_sum(n_on, mask),
        excess=masked_sum(n_on - alpha * n_off, mask),
        npred=masked_sum(np.maximum(mu_sig + mu_bkg, 0.0), mask),
        npred_signal=masked_sum(mu_source, mask),
    )


def _fit_copy(dataset):
    """A shallow copy of an on-off spectrum, a deep copy of any other dataset (same name)."""
    if type(dataset) is SpectrumDatasetOnOff and dataset.counts_off is not None:
        return copy.copy(dataset)
    return dataset.copy(name=dataset.name)


def copy_for_fit(datasets, models=None):
    """Copies of datasets and models to fit, keeping dataset names so models stay linked.

    On-off spectra (the fast path, `_onoff_fast_path`) are shallow copies: their
    maps are shared with the originals (a fit reads them and never writes them),
    and each copy gets its own models and evaluators, so that nothing of the
    originals changes; a deep copy of every map of every bin, at each fit, is
    most of the cost of a fast fit. Other datasets are deep copies: a
    `~gammapy.datasets.MapDataset` with a background model caches its predicted
    background in a map that it rewrites in place.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
        Datasets to copy.
    models : `~gammapy.modeling.models.Models` or list of models, optional
        Models to set on the copies (they are copied). Default is None, a copy
        of ``datasets.models``.

    Returns
    -------
    copies : `FitDatasets`
        Copied datasets with copied models.
    """
    datasets = Datasets(datasets)
    copies = FitDatasets([_fit_copy(dataset) for dataset in datasets])
    models = datasets.models if models is None else models
    copies.models = copy_models(models)
    return copies
