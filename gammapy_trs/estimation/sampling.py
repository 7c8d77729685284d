"""Nested sampling of one bin's posterior with UltraNest, as Gammapy's `~gammapy.modeling.Sampler`.

The likelihood is the engine's (`~gammapy_trs.engine.FitEngine.log_likelihood`:
the compiled statistic where it applies, Gammapy's otherwise), the prior
transform that of each parameter's Gammapy prior (the inverse of its
cumulative distribution, as the Sampler's), the sampler UltraNest's
`ReactiveNestedSampler` in its vectorised mode with the Sampler's settings
(``live_points``, ``frac_remain``). UltraNest draws from NumPy's global
random state: it is seeded for each bin and restored afterwards, so that a
run is reproducible whatever the order of the bins and leaves the caller's
random state as it was.
"""

import contextlib
import dataclasses
import logging
import numpy as np
from ..utils import gammapy_internals as internals

__all__ = ["BAYES_INSTALL", "EDGE", "PosteriorSamples", "SamplerSettings", "import_ultranest", "sample_posterior"]

log = logging.getLogger(__name__)

EDGE = 0.01
"""The outer fraction of a prior's probability at each end counted by `PosteriorSamples.edge_fraction`."""

BAYES_INSTALL = 'pip install "gammapy-trs[bayes]"'
"""How to install the optional dependency of the posteriors (UltraNest)."""


def import_ultranest():
    """The `ultranest` module, or an ImportError that says how to install it."""
    try:
        import ultranest
    except ImportError as error:
        raise ImportError(
            f"Posterior sampling needs UltraNest, which is not installed: {BAYES_INSTALL} "
            "(or pip install ultranest)."
        ) from error
    return ultranest


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """Settings of the nested sampling of each bin.

    Attributes
    ----------
    live_points : int
        Minimum number of live points (Gammapy's Sampler's ``live_points``). Default is 400.
    frac_remain : float
        Integrate until this fraction of the evidence is left in the live
        points (Gammapy's Sampler's). Default is 0.5.
    n_samples : int
        Number of equal-weight posterior samples kept per bin (drawn from
        UltraNest's, with replacement only where it gave fewer). Default is 1000.
    max_ncalls : int or None
        Largest number of likelihood evaluations per bin (None: no limit);
        a bin that reaches it is not converged. Default is None.
    min_ess : int
        Effective sample size UltraNest samples to at least (its ``min_ess``,
        which Gammapy's Sampler leaves at UltraNest's default). Default is 400.
    """

    live_points: int = 400
    frac_remain: float = 0.5
    n_samples: int = 1000
    max_ncalls: int = None
    min_ess: int = 400

    @classmethod
    def from_options(cls, options):
        """Settings from a dict of the attributes (the estimator's ``sampler_opts``), checked."""
        options = dict(options or {})
        unknown = sorted(set(options) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            known = [field.name for field in dataclasses.fields(cls)]
            raise ValueError(f"Unknown sampler_opts {unknown}; known are {known}.")
        settings = cls(**options)
        if int(settings.live_points) < 10 or int(settings.n_samples) < 10:
            raise ValueError(
                f"sampler_opts live_points and n_samples must be at least 10, got {settings.live_points} "
                f"and {settings.n_samples}."
            )
        if not 0 < settings.frac_remain < 1:
            raise ValueError(f"sampler_opts frac_remain must lie in (0, 1), got {settings.frac_remain}.")
        return settings


@dataclasses.dataclass
class PosteriorSamples:
    """The posterior of one bin.

    Attributes
    ----------
    names : list of str
        The sampled parameters.
    samples : `~numpy.ndarray`
        Equal-weight posterior samples, shape ``(n_samples, n_parameters)``,
        in the parameters' units.
    log_prior : `~numpy.ndarray`
        The log prior density of each sample in each parameter (the priors are
        independent), same shape.
    log_evidence, log_evidence_err : float
        Natural log of the evidence (the likelihood ``exp(-stat / 2)``
        integrated over the priors) and its error (UltraNest's ``logzerr``).
    ncall : int
        Number of likelihood evaluations.
    converged : bool
        UltraNest's insertion-order test passed and the call limit was not reached.
    points, weights : `~numpy.ndarray`
        All the sampler's weighted points (its dead and last live points) and
        their posterior weights (summing to 1), of which ``samples`` are drawn.
    edge_fraction : `~numpy.ndarray`
        Per parameter, the posterior probability in the outer `EDGE` of its
        prior's probability at either end (large where the prior's range
        cuts the posterior, e.g. an amplitude prior meant for another
        reference energy).
    """

    names: list
    samples: np.ndarray
    log_prior: np.ndarray
    log_evidence: float
    log_evidence_err: float
    ncall: int
    converged: bool
    points: np.ndarray = None
    weights: np.ndarray = None
    edge_fraction: np.ndarray = None

    def quantile(self, column, q):
        """Quantiles of one parameter's posterior from the weighted points (without the
        resampling noise of ``samples``).

        Parameters
        ----------
        column : int
            The parameter's column.
        q : float or list of float
            Probabilities.

        Returns
        -------
        quantiles : `~numpy.ndarray`
            The values (the inverse of the weighted cumulative distribution,
            interpolated between points).
        """
        values = self.points[:, column]
        order = np.argsort(values)
        cdf = np.cumsum(self.weights[order])
        cdf = (cdf - 0.5 * self.weights[order]) / cdf[-1]  # mid-point rule
        return np.interp(q, cdf, values[order])


class _PriorTransform:
    """The unit cube to the parameters, one prior's inverse cumulative distribution per column."""

    def __init__(self, distributions):
        self.distributions = distributions

    def __call__(self, cube):
        values = np.empty_like(cube)
        for column, distribution in enumerate(self.distributions):
            values[:, column] = distribution.ppf(cube[:, column])
        return values

    def log_density(self, values):
        return np.column_stack(
            [distribution.logpdf(values[:, column]) for column, distribution in enumerate(self.distributions)]
        )


@contextlib.contextmanager
def _seeded_and_quiet(seed):
    """NumPy's global random state seeded (and restored after), UltraNest's progress not printed.

    UltraNest prints its progress to stdout through the "ultranest" logger,
    and adds that handler where the logger has none: during the sampling the
    logger has only a `logging.NullHandler` and the level WARNING (its
    warnings reach the root logger's handlers); its set-up is restored after.
    """
    state = np.random.get_state()
    logger = logging.getLogger("ultranest")
    saved = logger.handlers[:], logger.level
    logger.handlers = [logging.NullHandler()]
    logger.setLevel(logging.WARNING)
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)
        logger.handlers, level = saved
        logger.setLevel(level)


def sample_posterior(likelihood, priors, settings, seed):
    """Sample the posterior of a bin with UltraNest.

    Parameters
    ----------
    likelihood : `~gammapy_trs.engine.likelihood.LogLikelihood`
        The bin's log-likelihood; its ``parameters`` are sampled.
    priors : list of `~gammapy.modeling.models.Prior`
        The prior of each parameter, in the same order.
    settings : `SamplerSettings`
        The sampler's settings.
    seed : int or `~numpy.random.SeedSequence`
        Seed of the sampling.

    Returns
    -------
    posterior : `PosteriorSamples`
        The samples, the evidence and the sampler's diagnostics.
    """
    ultranest = import_ultranest()
    transform = _PriorTransform([internals.prior_distribution(prior) for prior in priors])
    names = [par.name for par in likelihood.parameters]
    seed = np.random.SeedSequence(seed) if not isinstance(seed, np.random.SeedSequence) else seed
    with _seeded_and_quiet(seed.generate_state(1)[0]):
        sampler = ultranest.ReactiveNestedSampler(
            [f"{idx}_{name}" for idx, name in enumerate(names)],  # unique where names repeat
            likelihood,
            transform=transform,
            vectorized=True,
        )
        result = sampler.run(
            min_num_live_points=int(settings.live_points),
            frac_remain=float(settings.frac_remain),
            max_ncalls=settings.max_ncalls,
            min_ess=int(settings.min_ess),
            show_status=False,
            viz_callback=False,
        )
    rng = np.random.default_rng(seed.spawn(1)[0])
    drawn = np.asarray(result["samples"], dtype=float)
    n_samples = int(settings.n_samples)
    rows = rng.choice(len(drawn), size=n_samples, replace=len(drawn) < n_samples)
    samples = drawn[rows]  # in random order: any leading subset is a fair one
    reached = settings.max_ncalls is not None and result["ncall"] >= settings.max_ncalls
    converged = bool(result["insertion_order_MWW_test"]["converged"]) and not reached
    cube, weights = (np.asarray(result["weighted_samples"][key], dtype=float) for key in ("upoints", "weights"))
    edge_fraction = weights @ ((cube < EDGE) | (cube > 1 - EDGE))
    return PosteriorSamples(
        names=names,
        samples=samples,
        log_prior=transform.log_density(samples),
        log_evidence=float(result["logz"]),
        log_evidence_err=float(result["logzerr"]),
        ncall=int(result["ncall"]),
        converged=converged,
        points=np.asarray(result["weighted_samples"]["points"], dtype=float),
        weights=weights,
        edge_fraction=edge_fraction,
    )
