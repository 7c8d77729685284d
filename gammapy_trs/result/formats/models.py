"""The per-bin models of a result as plain data, for every file format."""

import numpy as np
from gammapy.modeling.models import Models

__all__ = ["model_to_dict", "model_from_dict"]


def model_to_dict(model):
    """A `~gammapy.modeling.models.SkyModel` and its covariance as a plain dict.

    The covariance terms of a parameter whose error is NaN (a failed fit) are
    NaN: Gammapy's covariance holds no NaN (it puts 1 on the diagonal).
    """
    covariance = np.array(model.covariance.data, dtype=float)
    undefined = np.isnan([par.error for par in model.parameters])
    covariance[undefined, :] = np.nan
    covariance[:, undefined] = np.nan
    return {"model": model.to_dict(full_output=True), "covariance": covariance.tolist()}


def model_from_dict(data):
    """The `~gammapy.modeling.models.SkyModel` of `model_to_dict`, with its covariance and errors."""
    model = Models.from_dict({"components": [data["model"]]})[0]
    errors = [par.error for par in model.parameters]
    model.covariance = np.array(data["covariance"], dtype=float)
    for par, error in zip(model.parameters, errors):
        if np.isnan(error):  # the covariance setter would make it 1
            par.error = error
    return model
