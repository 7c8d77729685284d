"""The interface of an optional per-bin step, and what it is given."""

import dataclasses

__all__ = ["BinStep", "BinContext", "RunSetup"]


@dataclasses.dataclass
class RunSetup:
    """What the steps of one run are made from, once per run.

    Attributes
    ----------
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model as given (not changed).
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Its free parameters.
    groups : list of `~gammapy.datasets.Datasets`
        The datasets of each bin.
    stack : `~gammapy_trs.estimation.stacked.Stack`
        The datasets of all bins, stacked once for every fit of all of them.
    engine : `~gammapy_trs.engine.FitEngine`
        The run's fit engine.
    selection : set of str
        The selected steps, with the steps they require.
    options : dict
        The estimator's step options (``n_sigma``, ``n_sigma_ul``,
        ``sqrt_ts_threshold_ul``, ``ul_shape``, ``energy_min``, ``energy_max``,
        ``compare_to``, ``sed_energy_edges``).
    """

    source_model: object
    parameters: object
    groups: list
    stack: object
    engine: object
    selection: set
    options: dict


@dataclasses.dataclass
class BinContext:
    """What a step sees in one bin.

    Attributes
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The engine's copies of the bin's datasets, at the best fit. A step
        leaves the parameters as it found them.
    source : str
        Source model name.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Free source parameters.
    stat : float
        Total fit statistic at the best fit (NaN where the fit failed).
    engine : `~gammapy_trs.engine.FitEngine`
        The run's fit engine.
    quality : `~gammapy_trs.estimation.quality.BinQuality`
        The bin's quality flags, and which parameter values stand.
    ts : dict
        ``ts``, ``sqrt_ts`` and ``stat_null`` of the source in the bin (NaN where
        not computed).
    values : dict
        The bin's quantities so far (those of the steps run before).
    products : dict
        Per-bin products that are not one number (e.g. the flux points of the
        "sed" step), kept with the bin's result.
    upper_limit_model : `~gammapy.modeling.models.SkyModel` or None
        The source model at the bin's upper limit (the "ul" step), for the
        steps after it (the fluxes at the limit).
    index : int or None
        Index of the bin in the run (e.g. to seed a sampler), None where unknown.
    """

    datasets: object
    source: str
    parameters: object
    stat: float
    engine: object
    quality: object = None
    ts: dict = dataclasses.field(default_factory=dict)
    values: dict = dataclasses.field(default_factory=dict)
    products: dict = dataclasses.field(default_factory=dict)
    upper_limit_model: object = None
    index: int = None

    @property
    def model(self):
        """The fitted source model of the bin."""
        return self.datasets.models[self.source]

    @property
    def fit_succeeded(self):
        """Whether the bin's fit succeeded."""
        return self.stat == self.stat  # NaN where it failed


class BinStep:
    """One optional step of the per-bin estimation.

    A step declares its ``name`` (the ``selection_optional`` entry; None for
    a step switched on otherwise, see `is_active`), the steps it ``requires``
    (run before it), whether it ``needs_norm`` (a free norm parameter) or a
    ``single_norm`` (exactly one, not the norms of a compound model), the
    quantities it adds (`quantities`, with units, descriptions and the value
    where it is not computed), the per-bin products it makes (`products`) and
    the meta data it writes (`meta`). `run` computes its quantities in one bin
    whose fit succeeded (and in bins whose fit failed, with ``stat`` NaN and
    NaN parameters, if it ``runs_on_failed_fit``). A step is made once per
    run by `create`, complete: a step that needs a fit over all bins (the
    shape of the upper limits) makes it there, before the first bin.
    """

    name = None
    requires = ()
    needs_norm = False
    single_norm = False
    runs_on_failed_fit = False

    def __init__(self, setup):
        self.parameters = setup.parameters

    @classmethod
    def is_active(cls, setup):
        """Whether the step runs, for a run set up as ``setup``."""
        return cls.name in setup.selection

    @classmethod
    def create(cls, setup):
        """The step for a run, with all it needs (e.g. fits over all bins)."""
        return cls(setup)

    def quantities(self):
        """The quantities the step adds, a list of `~gammapy_trs.result.quantities.QuantityInfo`."""
        raise NotImplementedError

    def products(self):
        """The per-bin products the step makes: their names, each with the function that makes the
        table of all bins from the per-bin products (one row per bin; None where a bin has none).
        Default is none."""
        return {}

    def after_bins(self, values):
        """Called once every bin is done (those of a checkpoint included), before `meta`.

        Parameters
        ----------
        values : list of dict
            Each bin's quantities. Default does nothing.
        """

    def meta(self):
        """Meta data of the result, a dict. Default is none."""
        return {}

    def run(self, context):
        """The step's quantities in one bin.

        Parameters
        ----------
        context : `BinContext`
            The bin at its best fit.

        Returns
        -------
        quantities : dict
            Some or all of the quantities of `quantities`, by name.
        """
        raise NotImplementedError
