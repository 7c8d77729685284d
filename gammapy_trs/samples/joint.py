"""The reference of the shared-parameter fit: Gammapy's own joint fit of all bins, one model per bin
with the shared parameters linked (the same `~gammapy.modeling.Parameter` object in every model)."""

import astropy.units as u
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from ..binning.intervals import as_gti
from ..estimation.grouping import group_datasets

__all__ = ["direct_joint_fit"]


def direct_joint_fit(datasets, intervals, source_model, shared, fit=None, atol="1e-6 s", start_fit=None):
    """Fit all bins at once with Gammapy, the ``shared`` parameters linked across the bins' models.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets (copied, not changed).
    intervals : list of `~astropy.time.Time`
        The time bins.
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model at its start values; one copy per bin.
    shared : list of str
        Names of the parameters shared by all bins.
    fit : `~gammapy.modeling.Fit`, optional
        Fit. Default is None, ``Fit()``.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on time comparisons. Default is "1e-6 s".
    start_fit : `~gammapy.modeling.Fit`, optional
        A fit run first, from whose minimum ``fit`` starts (where MIGRAD does
        not find the minimum of a strongly correlated joint fit from the start
        values). Default is None, none.

    Returns
    -------
    result : dict
        ``values`` and ``errors`` of the shared parameters (dicts by name),
        ``stat`` (the joint statistic), ``success``, and ``datasets`` (the
        fitted copies, with the bins' models).
    """
    _, groups = group_datasets(Datasets(datasets), as_gti(intervals), u.Quantity(atol))
    joint = Datasets([dataset.copy(name=dataset.name) for group in groups for dataset in group])
    models, linked = [], {}
    for index, group in enumerate(groups):
        model = source_model.copy(name=f"{source_model.name}-{index}")
        model.datasets_names = list(group.names)
        for name in shared:
            if name in linked:
                setattr(model.spectral_model, name, linked[name])
            else:
                linked[name] = getattr(model.spectral_model, name)
        models.append(model)
    joint.models = models
    if start_fit is not None:
        start_fit.run(joint)
    result = (Fit() if fit is None else fit).run(joint)
    return dict(
        values={name: par.value for name, par in linked.items()},
        errors={name: par.error for name, par in linked.items()},
        stat=float(result.total_stat),
        success=bool(result.success),
        datasets=joint,
    )
