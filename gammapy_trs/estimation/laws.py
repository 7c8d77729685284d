"""Laws across bins: a shape parameter as a function of the bin's own flux or of time.

A law gives each bin's shape parameter from a few coefficients and a
covariate ``x_i``: e.g. ``index_i = a + b x_i`` with ``x_i = log10(N_i / N_0)``
(``N_i`` the bin's own norm, free in its fit: "harder when brighter") or
``x_i = (t_i - t_0) / 1 h``. Its coefficients maximise the joint likelihood of
all bins, ``P(c) = sum_i min_phi_i stat_i(shape = law(c, x_i(phi_i)), phi_i)``,
by the profile Newton method of the shared parameters
(`~gammapy_trs.estimation.joint`): each evaluation is one fit per bin with the
shape tied to the law (for a law of the flux, the shape follows the bin's norm
within its fit, `~gammapy_trs.engine.FitEngine.conditional_minima` with a
``tie``), and the gradient by the coefficients is exact by the envelope theorem
and the chain rule. The law is tested by likelihood ratios against the shape
shared by all bins (its ``null`` coefficients fixed, e.g. ``b = 0``) and against
the shape free in each bin.

A law is a small declared object (`ShapeLaw`): its coefficients, its value and
derivatives, and the coefficients that the null hypothesis fixes. `LinearLaw`
is the one the papers on flares fit; register one's own in `LAWS`.
"""

import dataclasses
import logging
import numpy as np
import astropy.units as u
from astropy.table import Table
from astropy.time import Time
from scipy.optimize import least_squares
from scipy.stats import chi2, norm
from ..engine import Tie
from ..result.law_fit import LawFit
from ..utils.parameters import norm_parameter_index
from .grouping import bin_setup
from .joint import JointProfile, fit_shared_parameters, profile_bounds

__all__ = ["LAWS", "LawTie", "LinearLaw", "ShapeLaw", "fit_law"]

log = logging.getLogger(__name__)

COVARIATES = ("flux", "time")
"""What a law's covariate can be: the log10 of the bin's norm over a reference, or the time."""

NORM_FLOOR = 1e-3
"""In a law of the flux, a bin's norm is bounded below at this fraction of the reference (the
law is of its logarithm)."""

TIME_UNIT = u.h
"""Unit of the time covariate."""


class ShapeLaw:
    """A shape parameter as a function of coefficients and a covariate: the interface of a law.

    A subclass sets `tag`, `coefficient_names` and `null`, and implements
    `value` and `derivatives`; `start` (weighted least squares of the bins'
    own values) serves any law.
    """

    tag = None
    """Name of the law in `LAWS` and the configuration."""

    coefficient_names = ()
    """Names of the coefficients."""

    null = {}
    """Coefficients fixed under the null hypothesis that the shape does not evolve (shared by all bins)."""

    def __init__(self, covariate="flux"):
        if covariate not in COVARIATES:
            raise ValueError(f"covariate must be one of {COVARIATES}, got {covariate!r}.")
        self.covariate = covariate

    def __repr__(self):
        return f"{type(self).__name__}(covariate={self.covariate!r})"

    def value(self, coefficients, x):
        """The shape parameter at covariate ``x`` (float or array)."""
        raise NotImplementedError

    def derivatives(self, coefficients, x):
        """The derivatives of `value` by the coefficients (shape ``(m,) + x.shape``) and by ``x``."""
        raise NotImplementedError

    def formula(self, parameter, covariate):
        """The law written out, e.g. ``"index = a + b * log10(amplitude / N0)"``."""
        raise NotImplementedError

    def start(self, x, values, errors):
        """Start values and errors of the coefficients: weighted least squares of the bins' own values.

        Parameters
        ----------
        x, values, errors : `~numpy.ndarray`
            Covariates, values and errors of the shape parameter in the bins.

        Returns
        -------
        start, scale : `~numpy.ndarray`
            The coefficients and their errors.
        """
        m = len(self.coefficient_names)
        first = np.zeros(m)
        first[0] = np.sum(values / errors**2) / np.sum(errors**-2)
        fitted = least_squares(lambda c: (self.value(c, x) - values) / errors, first)
        try:
            covariance = np.linalg.inv(fitted.jac.T @ fitted.jac)
            scale = np.sqrt(np.diag(covariance))
        except np.linalg.LinAlgError:
            scale = np.full(m, np.nan)
        return fitted.x, scale


class LinearLaw(ShapeLaw):
    """``value = a + b x``: the shape linear in the covariate (``b = 0``: no evolution).

    Parameters
    ----------
    covariate : {"flux", "time"}, optional
        ``x = log10(N / N0)`` of the bin's own norm, or the time from ``t0`` in
        hours. Default is "flux".
    """

    tag = "linear"
    coefficient_names = ("a", "b")
    null = {"b": 0.0}

    def value(self, coefficients, x):
        return coefficients[0] + coefficients[1] * np.asarray(x, dtype=float)

    def derivatives(self, coefficients, x):
        x = np.asarray(x, dtype=float)
        return np.array([np.ones_like(x), x]), np.full_like(x, coefficients[1])

    def formula(self, parameter, covariate):
        return f"{parameter} = a + b * {covariate}"


LAWS = {LinearLaw.tag: LinearLaw}
"""The declared laws by tag (a user's law registers here)."""


@dataclasses.dataclass(frozen=True)
class LawTie(Tie):
    """One bin's shape parameter from a law (`~gammapy_trs.engine.Tie`): of its norm
    (``parameter`` set) or of a fixed covariate ``x``.

    Attributes
    ----------
    law : `ShapeLaw`
        The law.
    parameter : str or None
        The bin's norm parameter, for a law of the flux.
    reference : float
        The norm's reference ``N0``.
    x : float
        The covariate, for a law of time.
    """

    law: ShapeLaw
    parameter: str = None
    reference: float = 1.0
    x: float = np.nan

    @property
    def lower(self):
        """The norm's lower bound in the bin's fit: `NORM_FLOOR` of the reference (the law is of
        its logarithm)."""
        return NORM_FLOOR * self.reference if self.parameter is not None else np.nan

    def covariate(self, value):
        """The covariate at the norm ``value`` (the fixed ``x`` for a law of time)."""
        if self.parameter is None:
            return self.x
        return np.log10(value / self.reference)

    def shape(self, point, value):
        x = self.covariate(value)
        by_coefficients, by_x = self.law.derivatives(point, x)
        slope = 0.0 if self.parameter is None else by_x / (value * np.log(10))
        return np.array([self.law.value(point, x)]), np.array([by_coefficients]), np.array([slope])


class _LawProfile(JointProfile):
    """The joint profile in the law's coefficients: the differences of a bin's statistic by its
    shape parameter (Gammapy's path) take steps of that parameter, not of the coefficients."""

    def __init__(self, *args, shape_deltas, **kwargs):
        super().__init__(*args, **kwargs)
        self.shape_deltas = tuple(shape_deltas)

    def __call__(self, points, deltas, desc=None):
        return super().__call__(points, self.shape_deltas, desc=desc)


def _norm_name(model):
    """The name of the source model's free norm parameter, for a law of the flux."""
    idx = norm_parameter_index(model)
    if idx is None:
        raise ValueError(f"The spectral model of {model.name!r} has no free norm: a law of the flux needs one.")
    return model.parameters[idx].name


@dataclasses.dataclass
class _Covariates:
    """The bins' covariates from their own fits (for the start values), and the ties."""

    x: np.ndarray
    ties: list
    label: str
    reference: float
    unit: str


def _covariates(spectrum, setup, law, reference):
    """Each bin's covariate from the per-bin fits, and its tie to the law."""
    n = len(setup.groups)
    if law.covariate == "time":
        axis = spectrum.time_axis
        mid = axis.time_mid
        t0 = Time(mid.mjd.mean(), format="mjd", scale=mid.scale) if reference is None else Time(reference)
        x = (axis.time_mid - t0).to_value(TIME_UNIT)
        ties = [LawTie(law, x=float(xi)) for xi in x]
        return _Covariates(x, ties, f"(t - t0) / {TIME_UNIT}", float(t0.utc.mjd), "MJD (UTC)")
    name = _norm_name(setup.model)
    values = spectrum.quantity(name)
    use = spectrum.success & np.isfinite(values.value) & (values.value > 0)
    if not use.any():
        raise ValueError(f"No bin has a positive fitted {name!r}: no reference for a law of the flux.")
    if reference is None:
        reference = 10 ** np.mean(np.log10(values.value[use]))
    else:
        reference = u.Quantity(reference, values.unit).value
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(values.value > 0, np.log10(values.value / reference), np.nan)
    ties = [LawTie(law, parameter=name, reference=float(reference)) for _ in range(n)]
    return _Covariates(x, ties, f"log10({name} / N0)", float(reference), str(values.unit))


def _per_bin(profile, coefficients, selected):
    """Each bin's statistic and best free values at the coefficients (one conditional fit per
    bin of the law; not fitted, success False, for the bins left out)."""
    success, stat, _, optimum = profile([tuple(coefficients)], profile.shape_deltas)
    n = selected.size
    full_success, full_stat, full_optimum = np.zeros(n, bool), np.full(n, np.nan), [None] * n
    for j, i in enumerate(np.flatnonzero(selected)):
        full_success[i], full_stat[i], full_optimum[i] = success[0][j], stat[0][j], optimum[j]
    return full_success, full_stat, full_optimum


def fit_law(
    spectrum,
    datasets,
    parameter,
    law="linear",
    covariate="flux",
    reference=None,
    n_sigma=None,
    fit=None,
    engine="auto",
    n_jobs=None,
    parallel_backend=None,
    atol="1e-6 s",
):
    """Fit a law of a shape parameter across the bins with every bin's likelihood.

    E.g. ``index_i = a + b log10(N_i / N0)`` (``covariate="flux"``, ``N_i`` the
    bin's own norm, free in its fit) or ``index_i = a + b (t_i - t0) / 1 h``
    (``covariate="time"``), the other parameters free in each bin; see the
    module's documentation. The law is tested against the shape shared by all
    bins (its null coefficients fixed: ``b = 0``) and against the shape free in
    each bin (``spectrum``'s fits).

    The bins whose ``parameter`` the result reports (fitted, with the source's
    ``sqrt_ts`` at least the estimator's ``sqrt_ts_threshold_shape``) enter the
    law; the others, whose shape the data do not constrain (and, for a law of
    the flux, whose flux has no logarithm), are left out (``used`` False,
    ``N_EXCLUDED`` in the meta data).

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The per-bin fits with ``parameter`` free (start values and the free-per-bin statistic).
    datasets : `~gammapy.datasets.Datasets`
        The datasets it was made from, with their models (not changed).
    parameter : str
        Shape parameter of the source, e.g. "index".
    law : str or `ShapeLaw`, optional
        The law, or its tag in `LAWS`. Default is "linear".
    covariate : {"flux", "time"}, optional
        The covariate of a law given by its tag. Default is "flux".
    reference : `~astropy.units.Quantity`, `~astropy.time.Time` or float, optional
        ``N0`` (in the norm's unit) or ``t0``. Default is None: the geometric
        mean of the bins' fitted norms, or the mean of the bins' centres.
    n_sigma : float, optional
        Profile-likelihood errors of the coefficients at this many sigma. Default is None, none.
    fit, engine, n_jobs, parallel_backend, atol : optional
        The fit, the engine, the processes of the bins' fits and the tolerance on the bins'
        edges, as `~gammapy_trs.find_shape_blocks`. Defaults are None, "auto", None, None and "1e-6 s".

    Returns
    -------
    law_fit : `~gammapy_trs.result.law_fit.LawFit`
        The coefficients, the tests and each bin's covariate and value.
    """
    if isinstance(law, str):
        if law not in LAWS:
            raise ValueError(f"Unknown law {law!r}; declared laws: {sorted(LAWS)}.")
        law = LAWS[law](covariate=covariate)
    setup = bin_setup(spectrum, datasets, [parameter], fit, engine, n_jobs, parallel_backend, atol)
    covariates = _covariates(spectrum, setup, law, reference)
    values, errors = spectrum.quantity(parameter).value, spectrum.quantity(f"{parameter}_err").value
    use = spectrum.success & np.isfinite(values) & np.isfinite(errors) & (errors > 0) & np.isfinite(covariates.x)
    if use.sum() <= len(law.coefficient_names):
        raise ValueError(f"{use.sum()} bins with a fitted {parameter!r} and its error: too few for a law.")
    start, scale = law.start(covariates.x[use], values[use], errors[use])
    profile = _LawProfile(
        [group for group, ok in zip(setup.groups, use) if ok],
        setup.source,
        setup.indices,
        setup.engine,
        setup.runner,
        ties=[tie for tie, ok in zip(covariates.ties, use) if ok],
        shape_deltas=[1e-4 * float(np.median(errors[use]))],
    )
    log.info(f"Fitting {law.formula(parameter, covariates.label)} over {use.sum()} of {use.size} bins.")
    best = fit_shared_parameters(profile, start, scale=scale, desc=f"Law of {parameter} (iterations)")
    null = _null_fit(profile, law, best, start, scale)
    errn = errp = np.full(len(start), np.nan)
    if n_sigma is not None and best.success:
        errn, errp = profile_bounds(profile, best, n_sigma)
    at_best = _per_bin(profile, best.values, use) if best.success else None
    at_null = _per_bin(profile, null.values, use) if null.success else None
    table = _bins_table(spectrum, setup, law, covariates, best, at_best, parameter)
    table.meta.update(_tests(spectrum, law, best, at_best, at_null, table["used"]), N_EXCLUDED=int((~use).sum()))
    table.meta.update(_description(law, parameter, covariates, setup.source))
    table.meta.update(_coefficients(best, errn, errp))
    table.meta["COEFNULL"] = [float(v) for v in np.where(null.success, null.values, np.nan)]
    return LawFit(table)


def _description(law, parameter, covariates, source):
    """What the law is: the parameter, the law, its covariate and reference, the source."""
    return dict(
        PARAMETER=parameter,
        LAW=law.tag or type(law).__name__,
        COVARIATE=law.covariate,
        XLABEL=covariates.label,
        FORMULA=law.formula(parameter, covariates.label),
        REFERENCE=covariates.reference,
        REFUNIT=covariates.unit,
        SOURCE=source,
        COEFNAME=list(law.coefficient_names),
    )


def _coefficients(best, errn, errp):
    """The coefficients, their errors and covariance as meta data (NaN where the fit failed)."""
    return dict(
        SUCCESS=bool(best.success),
        COEFVAL=[float(v) for v in np.where(best.success, best.values, np.nan)],
        COEFERR=[float(v) for v in np.where(best.success, best.errors, np.nan)],
        COEFERRN=[float(v) for v in errn],
        COEFERRP=[float(v) for v in errp],
        COEFCOV=[[float(v) for v in row] for row in np.where(best.success, best.covariance, np.nan)],
    )


def _null_fit(profile, law, best, start, scale):
    """The law with its null coefficients fixed (the shape shared by all bins), from the best fit."""
    names = list(law.coefficient_names)
    fixed = [names.index(name) for name in law.null]
    values = np.array(best.values if best.success else start, dtype=float)
    for name, value in law.null.items():
        values[names.index(name)] = value
    errors = best.errors if best.success else scale
    return fit_shared_parameters(profile, values, scale=errors, fixed=fixed, show_progress=False, with_covariance=False)


def _bins_table(spectrum, setup, law, covariates, best, at_best, parameter):
    """One row per bin: its covariate at the law's best fit, the law's value and error there."""
    axis = spectrum.time_axis
    n = axis.nbin
    x = np.full(n, np.nan)
    used = np.zeros(n, bool)
    stat = np.full(n, np.nan)
    if at_best is not None:
        success, stats, optimum = at_best
        used, stat = np.asarray(success, bool), np.where(success, stats, np.nan)
        for i, tie in enumerate(covariates.ties):
            if not used[i]:
                continue
            if tie.parameter is None:
                x[i] = tie.x
            else:
                model = setup.groups[i].models[setup.source]
                shape = model.parameters[setup.indices[0]]
                free = [par for par in setup.groups[i].models.parameters.free_parameters if par is not shape]
                position = [id(par) for par in free].index(id(model.parameters[tie.parameter]))
                x[i] = tie.covariate(optimum[i][position])
    by_coefficients, _ = law.derivatives(best.values, x)
    covariance = np.nan_to_num(best.covariance) if best.success else np.full(best.covariance.shape, np.nan)
    variance = np.einsum("in,ij,jn->n", by_coefficients, covariance, by_coefficients)
    return Table(
        dict(
            bin=np.arange(n),
            time_min=axis.time_min.utc.mjd,
            time_max=axis.time_max.utc.mjd,
            x=x,
            law_value=law.value(best.values, x) if best.success else np.full(n, np.nan),
            law_error=np.sqrt(variance),
            bin_value=spectrum.quantity(parameter).value,
            bin_error=spectrum.quantity(f"{parameter}_err").value,
            bin_x=covariates.x,
            stat=stat,
            used=used,
        )
    )


def _tests(spectrum, law, best, at_best, at_null, used):
    """The likelihood ratios against the shape shared by all bins and against it free in each bin,
    over the bins fitted in both."""
    tests = dict(STAT=np.nan, TS_SHARED=np.nan, DOF_SHARED=len(law.null), P_SHARED=np.nan, SIG_SHARED=np.nan)
    tests.update(TS_FREE=np.nan, DOF_FREE=0, P_FREE=np.nan, N_BINS=int(np.sum(used)))
    if at_best is None:
        return tests
    law_ok, law_stat, _ = at_best
    tests["STAT"] = float(np.sum(law_stat[law_ok]))
    if at_null is not None:
        null_ok, null_stat, _ = at_null
        both = law_ok & null_ok
        ts = max(float(np.sum(null_stat[both]) - np.sum(law_stat[both])), 0.0)
        p_value = chi2.sf(ts, len(law.null))
        tests.update(TS_SHARED=ts, P_SHARED=float(p_value), SIG_SHARED=float(norm.isf(p_value / 2)))
    free_stat = spectrum.quantity("stat").value
    both = law_ok & spectrum.success & np.isfinite(free_stat)
    dof = int(both.sum()) - len(law.coefficient_names)
    if dof > 0:
        ts = max(float(np.sum(law_stat[both]) - np.sum(free_stat[both])), 0.0)
        tests.update(TS_FREE=ts, DOF_FREE=dof, P_FREE=float(chi2.sf(ts, dof)))
    return tests
