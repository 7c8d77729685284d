"""A fast joint statistic: Gammapy `Datasets` whose fit statistic is cheap to evaluate."""

import copy

import numpy as np
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.modeling import Fit
from gammapy.irf import EDispKernelMap
from gammapy.modeling.models import SkyModel
from gammapy.stats import wstat
from ..utils.gammapy_internals import evaluator_norm_index, model_penalties, update_evaluator
from .plain_spectra import plain_integral

__all__ = ["FitDatasets", "FastFit", "copy_for_fit"]


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


def _plain_setup(evaluator, state):
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
    integral, exposure, pdf_matrix = _plain_setup(evaluator, state)
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

    idx = evaluator_norm_index(evaluator)
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


def _onoff_arrays(dataset, state):
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
    n_on, n_off, alpha, mask = _onoff_arrays(dataset, state)
    mu_sig = np.zeros(n_on.shape)
    for evaluator in dataset.evaluators.values():
        update_evaluator(evaluator, dataset)
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
            self._fit_models = self.models
            self._fit_models_key = key
            self._fast = [_onoff_fast_path(dataset) for dataset in self]
            self._npred_state = {}
        return self._fit_models

    def stat_sum(self):
        """Compute the joint statistic (likelihood, priors and penalties)."""
        models = self._cached_models()
        prior_stat_sum = 0.0
        if models is not None:
            prior_stat_sum = models.parameters.prior_stat_sum()
            for penalty in model_penalties(models):
                prior_stat_sum += penalty.stat_sum()

        stat_sum = 0.0
        for dataset, fast in zip(self, self._fast):
            if fast:
                stat_sum += _onoff_stat_sum(dataset, self._npred_state)
            else:
                stat_sum += dataset.stat_sum()
        return stat_sum + prior_stat_sum


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
    copies.models = [model.copy(name=model.name) for model in models]
    return copies


class FastFit(Fit):
    """A `~gammapy.modeling.Fit` that evaluates any datasets it is given as `FitDatasets`.

    For the Gammapy estimators that fit internally (e.g.
    `~gammapy.estimators.FluxPointsEstimator`, which slices and copies the
    datasets itself): the statistic is the same, at the cost of the fast path.
    With the iminuit backend, ``confidence(reoptimize=False)`` runs as
    ``reoptimize=True``: iminuit ignores the option (and Gammapy warns at each
    call), so the numbers are the same without the warnings.

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`, optional
        Fit whose backend and options to use. Default is None, ``Fit()``.
    """

    def __init__(self, fit=None):
        fit = Fit() if fit is None else fit
        super().__init__(
            backend=fit.backend,
            optimize_opts=fit.optimize_opts,
            covariance_opts=fit.covariance_opts,
            confidence_opts=fit.confidence_opts,
            store_trace=fit.store_trace,
        )

    @staticmethod
    def _fast(datasets):
        return datasets if isinstance(datasets, FitDatasets) else FitDatasets(list(Datasets(datasets)))

    def run(self, datasets):
        return super().run(self._fast(datasets))

    def optimize(self, datasets):
        return super().optimize(self._fast(datasets))

    def covariance(self, datasets, *args, **kwargs):
        return super().covariance(self._fast(datasets), *args, **kwargs)

    def confidence(self, datasets, parameter, sigma=1, reoptimize=True):
        reoptimize = reoptimize or self.backend == "minuit"
        return super().confidence(self._fast(datasets), parameter, sigma=sigma, reoptimize=reoptimize)

    def stat_profile(self, datasets, *args, **kwargs):
        return super().stat_profile(self._fast(datasets), *args, **kwargs)
