"""The free parameters of a source model: their column names, indices and norm."""

import dataclasses
from collections import Counter

__all__ = ["NORM_NAMES", "SourceParameters", "free_parameter_names", "norm_parameter_index"]

NORM_NAMES = ("amplitude", "norm")
"""Names of the norm parameters of Gammapy's spectral models."""


def free_parameter_names(model):
    """Column names and indices of the free parameters of a model.

    A parameter is named by its own name where that is unique in the model and
    by Gammapy's unique name (e.g. ``spectral.model1.index``) otherwise.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Model.

    Returns
    -------
    names : dict of str to int
        Column name of each free parameter, mapped to its index in
        ``model.parameters``.
    """
    parameters = model.parameters
    counts = Counter(parameters.names)
    unique = model.parameters_unique_names
    return {
        (par.name if counts[par.name] == 1 else unique[idx]): idx
        for idx, par in enumerate(parameters)
        if not par.frozen
    }


def norm_parameter_index(model):
    """Index in ``model.parameters`` of the first free norm parameter.

    The norm is the first free spectral parameter named "amplitude" or "norm",
    as in all of Gammapy's spectral models.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Source model.

    Returns
    -------
    index : int or None
        Index, or None if the model has no free norm parameter.
    """
    spectral = list(model.spectral_model.parameters)
    for idx, par in enumerate(model.parameters):
        if par.name in NORM_NAMES and not par.frozen and any(par is p for p in spectral):
            return idx
    return None


@dataclasses.dataclass(frozen=True)
class SourceParameters:
    """The free parameters of a source model, named once for a whole run.

    Attributes
    ----------
    names : dict of str to int
        Column name of each free parameter and its index in ``model.parameters``
        (`free_parameter_names`).
    norm_index : int or None
        Index of the free norm parameter (`norm_parameter_index`), or None.
    """

    names: dict
    norm_index: object = None

    @classmethod
    def from_model(cls, model):
        """The free parameters of a `~gammapy.modeling.models.SkyModel`."""
        return cls(names=free_parameter_names(model), norm_index=norm_parameter_index(model))

    @property
    def by_index(self):
        """Column name of each free parameter by its index, a dict of int to str."""
        return {idx: name for name, idx in self.names.items()}

    @property
    def norm_name(self):
        """Column name of the norm parameter, or None."""
        return None if self.norm_index is None else self.by_index[self.norm_index]

    @property
    def shape_indices(self):
        """Indices of the free parameters other than the norm, a list of int."""
        return [idx for idx in self.names.values() if idx != self.norm_index]

    def __iter__(self):
        return iter(self.names.items())

    def __len__(self):
        return len(self.names)
