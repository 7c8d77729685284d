"""The free parameters of a source model: their column names, indices and norm."""

import dataclasses
from collections import Counter

__all__ = [
    "NORM_NAMES",
    "SourceParameters",
    "free_parameter_names",
    "norm_parameter_index",
    "norm_parameter_indices",
]

NORM_NAMES = ("amplitude", "norm")
"""Names of the norm parameters of Gammapy's spectral models."""


def free_parameter_names(model):
    """Column names and indices of the free parameters of a model.

    A parameter is named by its own name where that is unique in the model and
    by Gammapy's unique name (e.g. ``spectral.model1.index``) otherwise. A
    parameter linked between components (the same object twice in
    ``model.parameters``) is listed once, at its first place.

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
    first = {}
    for idx, par in enumerate(parameters):
        first.setdefault(id(par), idx)
    distinct = [idx for idx, par in enumerate(parameters) if first[id(par)] == idx]
    counts = Counter(parameters[idx].name for idx in distinct)
    unique = model.parameters_unique_names
    return {
        (parameters[idx].name if counts[parameters[idx].name] == 1 else unique[idx]): idx
        for idx in distinct
        if not parameters[idx].frozen
    }


def norm_parameter_indices(model):
    """Indices in ``model.parameters`` of the free norm parameters of the spectral model.

    A norm is a free spectral parameter named "amplitude" or "norm", as in all
    of Gammapy's spectral models; a compound model has one per component.
    Each parameter is counted once, even where it is linked.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Source model.

    Returns
    -------
    indices : list of int
        Indices, in order.
    """
    spectral = {id(p) for p in model.spectral_model.parameters}
    indices, seen = [], set()
    for idx, par in enumerate(model.parameters):
        if par.name in NORM_NAMES and not par.frozen and id(par) in spectral and id(par) not in seen:
            indices.append(idx)
            seen.add(id(par))
    return indices


def norm_parameter_index(model):
    """Index in ``model.parameters`` of the first free norm parameter, or None.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Source model.

    Returns
    -------
    index : int or None
        Index, or None if the model has no free norm parameter.
    """
    indices = norm_parameter_indices(model)
    return indices[0] if indices else None


@dataclasses.dataclass(frozen=True)
class SourceParameters:
    """The free parameters of a source model, named once for a whole run.

    Attributes
    ----------
    names : dict of str to int
        Column name of each free parameter and its index in ``model.parameters``
        (`free_parameter_names`).
    norm_indices : tuple of int
        Indices of the free norm parameters (`norm_parameter_indices`): one,
        or one per component of a compound model.
    """

    names: dict
    norm_indices: tuple = ()

    @classmethod
    def from_model(cls, model):
        """The free parameters of a `~gammapy.modeling.models.SkyModel`."""
        return cls(names=free_parameter_names(model), norm_indices=tuple(norm_parameter_indices(model)))

    @property
    def norm_index(self):
        """Index of the (first) free norm parameter, or None."""
        return self.norm_indices[0] if self.norm_indices else None

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
        """Indices of the free parameters other than the norms, a list of int."""
        return [idx for idx in self.names.values() if idx not in self.norm_indices]

    def __iter__(self):
        return iter(self.names.items())

    def __len__(self):
        return len(self.names)
