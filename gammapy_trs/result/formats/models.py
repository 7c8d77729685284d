"""The per-bin models of a result as plain data, for every file format."""

import numpy as np
from gammapy.modeling.models import Models

__all__ = ["model_to_dict", "model_from_dict"]


def model_to_dict(model):
    """A `~gammapy.modeling.models.SkyModel` and its covariance as a plain dict."""
    return {
        "model": model.to_dict(full_output=True),
        "covariance": np.asarray(model.covariance.data).tolist(),
    }


def model_from_dict(data):
    """The `~gammapy.modeling.models.SkyModel` of `model_to_dict`, with its covariance."""
    model = Models.from_dict({"components": [data["model"]]})[0]
    model.covariance = np.array(data["covariance"], dtype=float)
    return model
