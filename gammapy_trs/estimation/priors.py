"""The priors of a run: set on the model's parameters with Gammapy's prior API, used by the posteriors.

The priors of the source model (and of ``compare_to``) are the posterior
step's: the fits of the bins, their errors, TS, limits and tests are the
likelihood's, as without priors (a Gammapy `~gammapy.modeling.Fit` would add
each prior to the statistic as a penalty, which shifts a likelihood-ratio TS
by a constant even for a flat prior). `without_priors` takes them off a
copy of the model and keeps them by parameter index. The bounds that
Gammapy sets on a parameter with its prior (a ``UniformPrior`` sets ``min``
and ``max``) stay: they are the parameter's, and bound its fits too.
"""

from gammapy.modeling.models import SkyModel

__all__ = ["PRIOR_HINT", "has_priors", "missing_prior_error", "without_priors"]

PRIOR_HINT = (
    "Set one with Gammapy's prior API, e.g. "
    "model.spectral_model.index.prior = UniformPrior(min=1, max=5) and "
    "model.spectral_model.amplitude.prior = LogUniformPrior(min=1e-13, max=1e-9) "
    "(from gammapy.modeling.models import UniformPrior, LogUniformPrior)."
)
"""How to set a prior, for the error of a parameter without one."""


def has_priors(model):
    """Whether a parameter of ``model`` has a prior."""
    return model is not None and any(par.prior is not None for par in model.parameters)


def without_priors(model):
    """A copy of ``model`` without priors, and the priors by parameter index.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel` or `~gammapy.modeling.models.SpectralModel`
        The model (not changed).

    Returns
    -------
    model : same as ``model``
        ``model`` itself where it has no prior, else a copy without them.
    priors : dict of int to `~gammapy.modeling.models.Prior`
        The priors by index in ``model.parameters``.
    """
    priors = {idx: par.prior for idx, par in enumerate(model.parameters) if par.prior is not None}
    if not priors:
        return model, priors
    copy = model.copy(name=model.name) if isinstance(model, SkyModel) else model.copy()
    for par in copy.parameters:
        par.prior = None
    return copy, priors


def missing_prior_error(parameter_name, model_name, what="the posterior step"):
    """The error of a free parameter without a prior, naming it and saying how to set one."""
    return ValueError(
        f"{what} needs a prior on every free parameter it samples; {parameter_name!r} of model "
        f"{model_name!r} has none. {PRIOR_HINT}"
    )
