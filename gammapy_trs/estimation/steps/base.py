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
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    selection : set of str
        The selected steps, with the steps they require.
    options : dict
        The estimator's step options (``n_sigma``, ``n_sigma_ul``,
        ``sqrt_ts_threshold_ul``, ``energy_min``, ``energy_max``, ``compare_to``).
    """

    source_model: object
    parameters: object
    groups: list
    fit: object
    selection: set
    options: dict


@dataclasses.dataclass
class BinContext:
    """What a step sees in one bin.

    Attributes
    ----------
    datasets : `~gammapy_trs.estimation.fast_statistic.FitDatasets`
        Copies of the bin's datasets, at the best fit. A step leaves the
        parameters as it found them.
    source : str
        Source model name.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Free source parameters.
    stat : float
        Total fit statistic at the best fit.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    values : dict
        The bin's quantities so far (those of the steps run before).
    shared : dict
        What a step leaves for the later steps of the bin (e.g. the model at
        the upper limit).
    products : dict
        Per-bin products that are not one number (e.g. the flux points of the
        "sed" step), kept with the bin's result.
    """

    datasets: object
    source: str
    parameters: object
    stat: float
    fit: object
    values: dict = dataclasses.field(default_factory=dict)
    shared: dict = dataclasses.field(default_factory=dict)
    products: dict = dataclasses.field(default_factory=dict)

    @property
    def model(self):
        """The fitted source model of the bin."""
        return self.datasets.models[self.source]


class BinStep:
    """One optional step of the per-bin estimation.

    A step declares its ``name`` (the ``selection_optional`` entry; None for
    a step switched on otherwise, see `is_active`), the steps it ``requires``
    (run before it), whether it ``needs_norm`` (a free norm parameter) or a
    ``single_norm`` (exactly one, not the norms of a compound model), the
    quantities it adds (`quantities`, with units, descriptions and the value
    where it is not computed) and the meta data it writes (`meta`). `run`
    computes its quantities in one bin whose fit succeeded (and in bins whose
    fit failed, with ``stat`` NaN and NaN parameters, if it
    ``runs_on_failed_fit``). A step is made once per run by `create`, complete.

    A step that needs a fit over all bins for some bins only (the upper
    limits) defers that work until every bin is fitted: `defers` says which
    bins need it (from their quantities), `prepare_deferred` does the work
    over all bins once, if any bin needs it, and `run_deferred` runs in each
    of those bins, with the run's ``n_jobs``, in the order of the steps (a
    later step sees what an earlier one left in ``context.shared``).
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

    def meta(self):
        """Meta data of the result, a dict. Default is none."""
        return {}

    def defers(self, values):
        """Whether a bin with these quantities needs `run_deferred`. Default is never."""
        return False

    def prepare_deferred(self, groups):
        """The work over all bins (``groups``: the datasets of each bin), before `run_deferred`.
        Default is none."""

    def run_deferred(self, context):
        """The step's deferred quantities in one bin (see `defers`). Default is none."""
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
