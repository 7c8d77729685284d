"""Every use of Gammapy's private internals, in one place.

The package relies on a few attributes and methods of Gammapy 2.1 that are not
part of its public API (names with a leading underscore, method overrides on
copies of makers and geometries, class swaps). They are reached only through
the functions and the class of this module, and each is listed in
`INTERNALS`, which the documentation prints ("What we rely on in Gammapy")
and ``tests/test_gammapy_internals.py`` checks against the installed Gammapy:
an upgrade that changes one of them fails that test, naming it.
"""

import copy
import dataclasses
from astropy.utils.decorators import lazyproperty
from gammapy.maps import RegionGeom

__all__ = [
    "GAMMAPY_VERSION",
    "INTERNALS",
    "Internal",
    "SharedBBoxRegionGeom",
    "as_subclass_copy",
    "dataset_geom",
    "evaluator_norm_index",
    "irf_map",
    "lazy_hdu_location",
    "load_events_and_gti",
    "model_penalties",
    "observation_subclass",
    "prior_distribution",
    "renamed_dataset",
    "safe_mask_position",
    "set_datasets_covariance",
    "set_lazy_value",
    "set_observation_events",
    "share_meta_and_gti",
    "stat_sum_likelihood",
    "update_evaluator",
    "with_methods",
]

GAMMAPY_VERSION = "2.1"
"""The Gammapy version whose internals this module was written for."""


@dataclasses.dataclass(frozen=True)
class Internal:
    """One Gammapy internal the package relies on.

    Attributes
    ----------
    name : str
        The internal, e.g. ``"MapEvaluator._norm_idx"``.
    accessor : str
        The function or class of this module that uses it.
    used_by : str
        The modules that rely on it.
    why : str
        What it is used for.
    """

    name: str
    accessor: str
    used_by: str
    why: str


INTERNALS = [
    Internal(
        "MapEvaluator._norm_idx",
        "evaluator_norm_index",
        "estimation/fast_statistic.py",
        "the norm parameter whose change alone rescales the cached predicted counts",
    ),
    Internal(
        "MapEvaluator.update(exposure, psf, edisp, geom, mask), needs_update, contributes, use_cache, "
        "evaluation_mode",
        "update_evaluator",
        "estimation/fast_statistic.py",
        "the evaluator's IRFs set up as Dataset.npred does, before the array statistic; the mask "
        "image (a reduction of the mask, the cost of half a copy's set-up) only where update reads "
        "it: in the local evaluation mode",
    ),
    Internal(
        "Dataset._geom",
        "dataset_geom",
        "estimation/fast_statistic.py, reduction/safe_mask.py",
        "the geometry of a dataset's counts (also when counts is None)",
    ),
    Internal(
        "Models._penalties",
        "model_penalties",
        "estimation/fast_statistic.py",
        "the penalties that Datasets.stat_sum adds to the likelihood",
    ),
    Internal(
        "Dataset._name",
        "renamed_dataset",
        "reduction/observation_slices.py",
        "a shallow copy of the empty reference dataset under the slice's name",
    ),
    Internal(
        "IRFMap._irf_map and IRFMap(irf_map, exposure_map)",
        "irf_map",
        "reduction/observation_slices.py",
        "the PSF and energy-dispersion maps scaled to a slice's livetime",
    ),
    Internal(
        "SafeMaskMaker._get_position",
        "safe_mask_position",
        "reduction/safe_mask.py",
        "the position of the aeff-max safe mask, as Gammapy picks it",
    ),
    Internal(
        "LazyFitsData: the HDU location in instance.__dict__['_<name>_hdu'], the value in "
        "instance.__dict__[name]",
        "lazy_hdu_location, set_lazy_value",
        "reduction/cached_observation.py",
        "IRFs and events of an observation read once from a file kept open",
    ),
    Internal(
        "Observation's lazy FITS attributes aeff, edisp, psf, _bkg, _events, _gti and _meta "
        "(LazyFitsData descriptors)",
        "observation_subclass, load_events_and_gti, share_meta_and_gti",
        "reduction/cached_observation.py",
        "a subclass whose lazy attributes read from files kept open; the GTI and meta data shared "
        "by the copies of an observation",
    ),
    Internal(
        "Observation: a shallow copy whose __class__ is a subclass",
        "as_subclass_copy",
        "reduction/cached_observation.py",
        "an observation that reads every HDU once",
    ),
    Internal(
        "Observation._events and Observation._gti",
        "set_observation_events",
        "samples/demo_data.py",
        "an observation made of events sampled chunk by chunk",
    ),
    Internal(
        "MapDatasetMaker.run calls self.make_counts, make_exposure, make_background, make_psf, "
        "make_edisp, make_edisp_kernel and make_meta_table; RegionGeom.coord_to_pix (under "
        "coord_to_idx) calls self.contains",
        "with_methods",
        "reduction/observation_slices.py, reduction/geometry.py",
        "methods replaced on copies of the makers and geometries, so that per-observation "
        "products are made once and scaled for each slice",
    ),
    Internal(
        "RegionGeom._init_copy, RegionGeom._binsz_wcs, RegionGeom._rectangle_bbox (lazy)",
        "SharedBBoxRegionGeom",
        "reduction/observation_slices.py",
        "the bounding box of the ON region computed once for the derived geometries",
    ),
    Internal(
        "Datasets._stat_sum_likelihood",
        "stat_sum_likelihood",
        "engine/likelihood.py",
        "the likelihood of a bin without the priors of its parameters, as Gammapy's Sampler "
        "samples it (the priors enter through the prior transform)",
    ),
    Internal(
        "Datasets._covariance (the covariance the models property applies to the errors)",
        "set_datasets_covariance",
        "engine/fast_fit.py",
        "the given datasets keep the covariance of a fit, as Gammapy's Fit.run sets it: else "
        "their next models access resets the errors from the covariance before the fit",
    ),
    Internal(
        "Prior._random_variable (a frozen scipy.stats distribution)",
        "prior_distribution",
        "estimation/sampling.py, result/population.py",
        "the prior transform (its ppf, as Gammapy's Sampler) and the prior density of posterior "
        "samples for the population's importance weights (its logpdf), on arrays",
    ),
]
"""The Gammapy internals the package relies on, a list of `Internal`."""


def evaluator_norm_index(evaluator):
    """Index of the norm parameter in ``evaluator.model.parameters``, or None."""
    return evaluator._norm_idx


def update_evaluator(evaluator, dataset):
    """Set up ``evaluator`` with the IRFs of ``dataset`` where it needs it, as ``Dataset.npred``.

    ``MapEvaluator.update`` reads the mask image only in the "local" evaluation mode (models with
    a spatial component): in the "global" mode it is not computed.
    """
    if evaluator.needs_update:
        mask = dataset.mask_image if evaluator.evaluation_mode == "local" else None
        evaluator.update(dataset.exposure, dataset.psf, dataset.edisp, dataset._geom, mask)


def dataset_geom(dataset):
    """Geometry of a dataset's counts (defined also where ``counts`` is None)."""
    return dataset._geom


def stat_sum_likelihood(datasets):
    """Total statistic of ``datasets`` without the priors of their parameters, a float."""
    return float(datasets._stat_sum_likelihood())


def set_datasets_covariance(datasets, matrix):
    """Set the covariance of ``datasets`` (a `~gammapy.datasets.Datasets`) as Gammapy's
    ``Fit.run`` does: ``matrix`` on the parameters of ``datasets.models``."""
    from gammapy.modeling import Covariance

    datasets._covariance = None  # read without the stale one, which would reset the errors
    datasets._covariance = Covariance(datasets.models.parameters, matrix)


def prior_distribution(prior):
    """The distribution of a Gammapy prior, a frozen `scipy.stats` distribution (``ppf``, ``logpdf``)."""
    return prior._random_variable


def model_penalties(models):
    """Penalties of a `~gammapy.modeling.models.Models`, a list (empty if none)."""
    return models._penalties or []


def renamed_dataset(dataset, name):
    """Shallow copy of a dataset under another name; maps and geometries are shared."""
    renamed = copy.copy(dataset)
    renamed._name = name
    return renamed


def irf_map(product):
    """The IRF map (``psf_map`` or ``edisp_map``) of an `~gammapy.irf.IRFMap`."""
    return product._irf_map


def safe_mask_position(maker, observation, geom):
    """Position at which a `~gammapy.makers.SafeMaskMaker` evaluates the IRFs."""
    return maker._get_position(observation, geom)


def lazy_hdu_location(instance, name):
    """The `~gammapy.utils.fits.HDULocation` behind the lazy attribute ``name``."""
    return instance.__dict__[f"_{name}_hdu"]


def set_lazy_value(instance, name, value):
    """Store the value of the lazy attribute ``name``, as `~gammapy.utils.fits.LazyFitsData` does."""
    instance.__dict__[name] = value


def as_subclass_copy(obj, cls):
    """Shallow copy of ``obj`` whose class is ``cls``, a subclass of its class."""
    if not isinstance(obj, cls.__mro__[1]):
        raise TypeError(f"{cls.__name__} is not a subclass of {type(obj).__name__}.")
    new = copy.copy(obj)
    new.__class__ = cls
    return new


OBSERVATION_LAZY_ATTRIBUTES = ("aeff", "edisp", "psf", "_bkg", "_events", "_gti", "_meta")
"""The lazy FITS attributes of `~gammapy.data.Observation` (`~gammapy.utils.fits.LazyFitsData`)."""


def observation_subclass(name, descriptor, namespace=None):
    """A subclass of `~gammapy.data.Observation` whose lazy FITS attributes are ``descriptor()``.

    Parameters
    ----------
    name : str
        Name of the class.
    descriptor : callable
        Makes one descriptor (a `~gammapy.utils.fits.LazyFitsData` subclass) per attribute.
    namespace : dict, optional
        More attributes and methods of the class. Default is None.

    Returns
    -------
    cls : type
        The subclass.
    """
    from gammapy.data import Observation

    attributes = {attribute: descriptor() for attribute in OBSERVATION_LAZY_ATTRIBUTES}
    attributes.update(namespace or {})
    return type(name, (Observation,), attributes)  # type() names each descriptor (__set_name__)


def load_events_and_gti(observation):
    """Read an observation's meta data, GTI and events (one file), so that they are cached."""
    return observation.meta, observation._gti, observation._events


def share_meta_and_gti(target, source):
    """Give ``target`` the meta data and GTI that ``source`` read (without reading them again)."""
    for name in ("_meta", "_gti"):
        set_lazy_value(target, name, getattr(source, name))


def set_observation_events(observation, events, gti):
    """Set the events and GTI of an in-memory `~gammapy.data.Observation`."""
    observation._events = events
    observation._gti = gti


def with_methods(obj, **methods):
    """Shallow copy of ``obj`` whose methods named in ``methods`` are replaced.

    Gammapy's makers and geometries call these methods through ``self``, so the
    copy runs its own versions; the original is not changed.
    """
    new = copy.copy(obj)
    for name, method in methods.items():
        if not callable(getattr(obj, name, None)):
            raise AttributeError(f"{type(obj).__name__} has no method {name!r} to replace.")
        setattr(new, name, method)
    return new


class SharedBBoxRegionGeom(RegionGeom):
    """Region geometry whose copies with the same region and WCS share its bounding box.

    Gammapy computes the bounding box (the region's round trip through its WCS,
    which gives ``center_skydir``) again for every derived geometry:
    ``to_image``, ``to_cube`` and ``squash`` make four per IRF projection of an
    observation. The box depends only on the region and the WCS.
    """

    @classmethod
    def from_geom(cls, geom):
        """The region geometry ``geom`` as a `SharedBBoxRegionGeom`."""
        return cls(region=geom.region, axes=geom.axes, wcs=geom.wcs, binsz_wcs=geom._binsz_wcs)

    def _init_copy(self, **kwargs):
        new = super()._init_copy(**kwargs)
        if new.region is self.region and new.wcs is self.wcs and self.region is not None:
            new.__dict__["_rectangle_bbox"] = self._rectangle_bbox
        return new

    @lazyproperty
    def plain(self):
        """The same geometry as a Gammapy `~gammapy.maps.RegionGeom`, sharing the bounding box."""
        plain = RegionGeom(region=self.region, axes=self.axes, wcs=self.wcs, binsz_wcs=self._binsz_wcs)
        if self.region is not None:
            plain.__dict__["_rectangle_bbox"] = self._rectangle_bbox
        return plain
