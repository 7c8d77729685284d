"""`FitDatasets`: Gammapy `Datasets` whose joint statistic is cheap to evaluate."""

from gammapy.datasets import Datasets

__all__ = ["FitDatasets", "copy_for_fit"]


class FitDatasets(Datasets):
    """Datasets whose joint fit statistic reuses one models object.

    Gammapy's `~gammapy.datasets.Datasets.stat_sum` adds the priors and
    penalties of ``self.models``, a property that rebuilds the unique models
    and their covariance on every access (up to three times per evaluation).
    In a fit that is most of the time of each evaluation. Here the models
    object is kept as long as the datasets hold the same model objects; the
    parameters are shared, so priors and penalties see the current values and
    the statistic is the same number.
    """

    def _models_key(self):
        return tuple(id(m) for d in self for m in (d.models or []))

    def _cached_models(self):
        key = self._models_key()
        if getattr(self, "_fit_models_key", None) != key:
            self._fit_models = self.models
            self._fit_models_key = key
        return self._fit_models

    def stat_sum(self):
        """Compute the joint statistic (likelihood, priors and penalties)."""
        models = self._cached_models()
        prior_stat_sum = 0.0
        if models is not None:
            prior_stat_sum = models.parameters.prior_stat_sum()
            for penalty in models._penalties or []:
                prior_stat_sum += penalty.stat_sum()

        stat_sum = 0.0
        for dataset in self:
            stat_sum += dataset.stat_sum()
        return stat_sum + prior_stat_sum


def copy_for_fit(datasets, models=None):
    """Copies of datasets and models to fit, keeping dataset names so models stay linked.

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
    copies = FitDatasets([dataset.copy(name=dataset.name) for dataset in datasets])
    models = datasets.models if models is None else models
    copies.models = [model.copy(name=model.name) for model in models]
    return copies
