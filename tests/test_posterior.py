"""The "posterior" step (nested sampling per bin), its result and the population inference."""

import builtins
import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose, assert_equal
from gammapy.datasets import Datasets
from gammapy.modeling.models import GaussianPrior, LogParabolaSpectralModel, LogUniformPrior, UniformPrior
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.engine import CompiledEngine, GammapyEngine
from gammapy_trs.result.population import NormalPopulation, _grid
from conftest import power_law_model

pytest.importorskip("ultranest")

FAST = dict(live_points=200, n_samples=400, min_ess=200)
"""Sampler settings for the tests (the defaults: 400 live points, 1000 samples, an effective sample size of 400)."""


def with_priors(datasets):
    """Flat priors on the index and the amplitude (those of the comparison with the profile)."""
    model = datasets.models[0]
    model.spectral_model.index.prior = UniformPrior(min=1, max=6)
    model.spectral_model.amplitude.prior = UniformPrior(min=0, max=1e-9)
    return datasets


@pytest.fixture(scope="module")
def posterior_run(flare_datasets_session, flare_intervals):
    """Two bins of the flare with the profile errors, the posterior and a log-parabola compared."""
    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])

    datasets.models = power_law_model()
    with_priors(datasets)
    compare_to = LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1", reference="1 TeV")
    compare_to.beta.prior = UniformPrior(min=-1, max=1)
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2],
        selection_optional=["errn-errp", "posterior"],
        sampler_opts=FAST,
        compare_to=compare_to,
        random_state=7,
    )
    return estimator, datasets, estimator.run(datasets)


def test_likelihood_engines_agree(flare_datasets):
    """The compiled log-likelihood equals Gammapy's (its Sampler's), priors left out, and leaves the
    parameters as they were."""
    with_priors(flare_datasets)
    group = Datasets(flare_datasets[:1])
    compiled = CompiledEngine().log_likelihood(CompiledEngine().copy(group))
    reference_copies = GammapyEngine().copy(group)
    reference = GammapyEngine().log_likelihood(reference_copies)
    assert compiled.name == "compiled" and reference.name == "gammapy"
    assert [p.name for p in compiled.parameters] == ["index", "amplitude"]
    points = np.column_stack([np.linspace(2, 4, 7), np.geomspace(3e-11, 3e-10, 7)])
    before = [p.value for p in reference.parameters]
    assert_allclose(compiled(points), reference(points), rtol=1e-10)
    assert [p.value for p in reference.parameters] == before
    assert reference.ncall == 7
    # the priors are not in it: Gammapy's total with priors differs by their penalty
    assert_allclose(reference(np.array([before]))[0], -0.5 * float(reference_copies._stat_sum_likelihood()))


def test_missing_prior_is_a_clear_error(flare_datasets, flare_intervals):
    flare_datasets.models[0].spectral_model.index.prior = UniformPrior(min=1, max=6)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:1], selection_optional=["posterior"])
    with pytest.raises(ValueError, match="'amplitude' of model 'source' has none. Set one with Gammapy's prior API"):
        estimator.run(flare_datasets)


def test_missing_prior_of_compare_to(flare_datasets, flare_intervals):
    with_priors(flare_datasets)
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:1], selection_optional=["posterior"],
        compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
    )
    with pytest.raises(ValueError, match=r"'beta' of model 'compare_to \(LogParabolaSpectralModel\)' has none"):
        estimator.run(flare_datasets)


def test_without_ultranest_says_how_to_install(flare_datasets, flare_intervals, monkeypatch):
    real_import = builtins.__import__

    def no_ultranest(name, *args, **kwargs):
        if name == "ultranest":
            raise ImportError("No module named 'ultranest'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ultranest)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:1], selection_optional=["posterior"])
    with pytest.raises(ImportError, match=r'pip install "gammapy-trs\[bayes\]"'):
        estimator.run(with_priors(flare_datasets))


def test_options_are_checked():
    with pytest.raises(ValueError, match="Unknown sampler_opts \\['live'\\]"):
        TimeResolvedSpectrumEstimator(sampler_opts={"live": 10})
    with pytest.raises(ValueError, match="credible_level must lie strictly between 0 and 1, got 68.0"):
        TimeResolvedSpectrumEstimator(credible_level=68)
    # "all" as a string or in a list (as a configuration file gives it): posteriors only by name
    for value in ("all", ["all"], ["all", "ts"]):
        selection = TimeResolvedSpectrumEstimator(selection_optional=value).selection_optional
        assert "posterior" not in selection and "ts" in selection
    assert "posterior" in TimeResolvedSpectrumEstimator(selection_optional=["all", "posterior"]).selection_optional
    # the SED named without energy edges is an error, "all" in a list without them is not
    TimeResolvedSpectrumEstimator(selection_optional=["all"])
    with pytest.raises(ValueError, match="sed"):
        TimeResolvedSpectrumEstimator(selection_optional=["all", "sed"])


def test_posterior_against_profile(posterior_run):
    """Bright bins, flat priors: the posterior medians and 68% intervals near the profile
    likelihood's (the benchmark checks it with the default settings on the PKS night)."""
    _, _, result = posterior_run
    table = result.to_table()
    assert np.all(table["sampler_converged"]) and not np.any(table["sampler_at_prior_edge"])
    assert np.all(table["sampler_ncall"] > 1000)
    for name in ("index", "amplitude"):
        value, errn, errp = (np.asarray(table[c], dtype=float) for c in (name, f"{name}_errn", f"{name}_errp"))
        median = np.asarray(table[f"{name}_median"], dtype=float)
        lo, hi = (np.asarray(table[f"{name}_credible_{s}"], dtype=float) for s in ("lo", "hi"))
        # with 200 live points (the sampling noise of a quantile about 0.05 sigma)
        assert np.all(np.abs(median - value) < 0.2 * (errn + errp) / 2)
        assert_allclose((median - lo) / errn, 1, atol=0.2)
        assert_allclose((hi - median) / errp, 1, atol=0.2)
    assert np.all(table["amplitude_credible_ul"] > table["amplitude_credible_hi"])
    assert table["index_median"].unit == u.Unit("") and table["amplitude_median"].unit == table["amplitude"].unit
    assert np.all(np.isfinite(table["log_evidence"])) and np.all(table["log_evidence_err"] > 0)
    assert np.all(table["log_bayes_factor_err"] > 0)
    assert result.meta["priors"] == "index: UniformPrior(min=1, max=6); amplitude: UniformPrior(min=0, max=1e-09)"


def test_bayes_factor_against_laplace(posterior_run, flare_intervals):
    """A power law in the bins: the Bayes factor of a log-parabola is Laplace's approximation,
    ln B = TS / 2 + ln(sqrt(2 pi) sigma_beta / 2) with beta's flat prior of width 2 (Occam's
    factor), to within its error and the approximation's (alpha's prior is the index's)."""
    from gammapy.modeling import Fit

    _, datasets, result = posterior_run
    table = result.to_table()
    for idx in range(result.n_bins):
        group = datasets.select_time(*flare_intervals[idx])
        group = Datasets([d.copy(name=d.name) for d in group])
        model = power_law_model()
        model.spectral_model = LogParabolaSpectralModel(
            alpha=3, beta=0.01, amplitude="1e-10 cm-2 s-1 TeV-1", reference="1 TeV"
        )
        group.models = [model]
        Fit().run(group)
        sigma_beta = model.spectral_model.beta.error
        laplace = table["compare_ts"][idx] / 2 + np.log(np.sqrt(2 * np.pi) * sigma_beta / 2)
        assert abs(table["log_bayes_factor"][idx] - laplace) < 3 * table["log_bayes_factor_err"][idx] + 0.3
        assert table["log_bayes_factor"][idx] < 0


def test_priors_stay_out_of_the_fits(posterior_run, flare_datasets, flare_intervals):
    """The fits, errors and likelihood-ratio tests are those of the likelihood, as without priors;
    the user's models keep their priors."""
    estimator, datasets, result = posterior_run
    assert datasets.models[0].spectral_model.index.prior is not None
    plain = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["errn-errp"], compare_to=estimator.compare_to
    ).run(flare_datasets)
    for column in ("index", "index_err", "amplitude_errp", "stat", "compare_ts"):
        assert_allclose(result.to_table()[column], plain.to_table()[column], rtol=1e-6)


def test_reproducible_and_parallel(posterior_run, flare_intervals):
    """Each bin is seeded from random_state and its index: the same samples with 2 processes, and
    without compare_to (the alternative has its own seeds); other samples with another seed."""
    estimator, datasets, result = posterior_run
    again = estimator.copy()
    again.n_jobs = 2
    again.compare_to = None
    other = again.run(datasets)
    assert_equal(np.asarray(other.products["posterior"]["index"]), np.asarray(result.products["posterior"]["index"]))
    assert_equal(other.to_table()["log_evidence"], result.to_table()["log_evidence"])
    seeded = again.copy()
    seeded.random_state = 8
    seeded.n_jobs = 1
    seeded.time_intervals = flare_intervals[:1]
    assert seeded.run(datasets).to_table()["index_median"][0] != result.to_table()["index_median"][0]


@pytest.mark.parametrize("suffix", ["fits", "ecsv"])
def test_samples_round_trip(posterior_run, tmp_path, suffix):
    _, _, result = posterior_run
    path = tmp_path / f"result.{suffix}"
    result.write(path)
    read = TimeResolvedSpectrum.read(path)
    for idx in range(result.n_bins):
        samples, back = result.posterior(idx), read.posterior(idx)
        assert samples.colnames == ["index", "amplitude"] and len(samples) == FAST["n_samples"]
        assert samples["amplitude"].unit == result["amplitude"].unit
        for name in samples.colnames:
            assert_allclose(back[name].value, samples[name].value, rtol=1e-15)
    assert_allclose(read.to_table()["log_bayes_factor"], result.to_table()["log_bayes_factor"])
    assert read.meta["credible_level"] == 0.68


def test_posterior_of_a_bin(posterior_run):
    _, _, result = posterior_run
    samples = result.posterior(1)
    table = result.to_table()
    # the quantities are the weighted points' quantiles; the samples, drawn from them, agree within noise
    assert abs(np.median(samples["index"]) - table["index_median"][1]) < 0.1 * table["index_err"][1]
    ul = np.quantile(samples["amplitude"].value, 0.95)
    assert abs(ul - table["amplitude_credible_ul"][1]) < 0.15 * table["amplitude_err"][1]
    assert samples.meta["time_min"] == result.time_axis.time_min[1].isot
    with pytest.raises(IndexError, match="Bin 2 out of range: the result has 2 bins"):
        result.posterior(2)


def test_posterior_plots(posterior_run):
    _, _, result = posterior_run
    with mpl_plot_check():
        ax = result.plot_posteriors("index")
        assert ax.get_ylabel() == "index"
        assert len(ax.collections) >= 2  # one violin per bin
    with mpl_plot_check():
        axes = result.plot_corner(0)
        assert axes.shape == (2, 2) and not axes[0, 1].get_visible()
        assert axes[1, 0].get_xlabel() == "index"
    with pytest.raises(ValueError, match="No posterior samples of 'beta'"):
        result.plot_posteriors("beta")


def test_without_posterior_step(flare_datasets, flare_intervals):
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:1]).run(flare_datasets)
    with pytest.raises(ValueError, match='run with selection_optional including "posterior"'):
        result.posterior(0)


def test_population_of_the_run(posterior_run, tmp_path):
    _, _, result = posterior_run
    population = result.population("index")
    table = population.to_table()
    assert list(table["bin"]) == [0, 1]
    summary = population.summary
    assert summary["mean_lo"] < summary["mean"] < summary["mean_hi"]
    assert 0 <= summary["scatter_lo"] < summary["scatter"] < summary["scatter_hi"] < summary["scatter_ul"]
    # shrinkage: every bin's estimate moves towards the population mean
    # (within 0.01: a bin at the mean may end on its other side, its posterior mean is not its median)
    assert np.all(np.abs(table["index_shrunk"] - summary["mean"]) <= np.abs(table["index_median"] - summary["mean"]) + 0.01)
    assert "Population of index (normal, 2 bins)" in str(population)
    with mpl_plot_check():
        population.plot()
    population.write(tmp_path / "population.ecsv")
    back = type(population).read(tmp_path / "population.ecsv")
    assert_allclose(back.summary["log_bayes_factor_scatter"], summary["log_bayes_factor_scatter"])
    with pytest.raises(ValueError, match="Unknown population model 'student'"):
        result.population("index", model="student")


def test_population_likelihood_is_exact_for_gaussian_posteriors():
    """With flat priors and normal posteriors N(m_i, s_i), the population's likelihood is the
    product of N(m_i | mu, sqrt(tau^2 + s_i^2)): the reweighted samples give it, up to Monte-Carlo
    noise, at every scatter down to zero (the smoothing keeps each posterior's variance)."""
    rng = np.random.default_rng(1)
    means, sigmas = rng.normal(3, 0.2, 8), rng.uniform(0.1, 0.3, 8)
    samples = means[:, None] + sigmas[:, None] * rng.standard_normal((8, 4000))
    log_prior = np.full_like(samples, -np.log(5))
    mu, tau = np.linspace(2.6, 3.4, 9), np.linspace(0, 0.5, 6)
    log_like, _, _ = _grid(NormalPopulation, samples, log_prior, mu, tau)
    widths = np.sqrt(tau[:, None, None] ** 2 + sigmas[None, None, :] ** 2)
    exact = np.sum(NormalPopulation.log_density(means[None, None, :], mu[None, :, None], widths), axis=2) + 8 * np.log(5)
    near = exact > exact.max() - 10  # where the population's posterior is not negligible
    shift = (log_like - exact)[near] - np.mean((log_like - exact)[near])
    assert near.sum() > 20 and np.max(np.abs(shift)) < 0.15


def test_gaussian_prior_transform(flare_datasets, flare_intervals):
    """Any Gammapy prior: a Gaussian prior on the index pulls the posterior to the product."""
    with_priors(flare_datasets)
    flare_datasets.models[0].spectral_model.index.prior = GaussianPrior(mu=3.0, sigma=0.1)
    result = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:1], selection_optional=["posterior"], sampler_opts=FAST
    ).run(flare_datasets)
    table = result.to_table()
    # the product of the likelihood (about normal) and the prior
    weights = np.array([table["index_err"][0] ** -2, 0.1**-2])
    expected = (weights @ [table["index"][0], 3.0]) / weights.sum()
    assert abs(table["index"][0] - 3.0) > 2 * weights.sum() ** -0.5  # a real pull
    assert abs(table["index_median"][0] - expected) < 0.5 * weights.sum() ** -0.5
    assert "GaussianPrior(mu=3, sigma=0.1)" in result.meta["priors"]


def test_checkpoint_keeps_the_samples(flare_datasets, flare_intervals, tmp_path, monkeypatch):
    """A resumed run reads each finished bin's samples from the checkpoint (no sampling), and a
    checkpoint of other sampler settings is refused."""
    from gammapy_trs.estimation.steps import posterior
    from gammapy_trs.estimation.checkpoint import CheckpointMismatchError

    with_priors(flare_datasets)
    options = dict(time_intervals=flare_intervals[:2], selection_optional=["posterior"], sampler_opts=FAST)
    first = TimeResolvedSpectrumEstimator(checkpoint=tmp_path / "checkpoint", **options).run(flare_datasets)

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again")

    monkeypatch.setattr(posterior, "sample_posterior", no_sampling)
    resumed = TimeResolvedSpectrumEstimator(checkpoint=tmp_path / "checkpoint", **options).run(flare_datasets)
    assert_equal(np.asarray(resumed.products["posterior"]["amplitude"]), np.asarray(first.products["posterior"]["amplitude"]))
    assert_equal(resumed.to_table()["log_evidence"], first.to_table()["log_evidence"])
    with pytest.raises(CheckpointMismatchError, match="other settings or other data"):
        TimeResolvedSpectrumEstimator(checkpoint=tmp_path / "checkpoint", random_state=1, **options).run(flare_datasets)


def test_prior_edge_is_flagged(flare_datasets, flare_intervals):
    """An amplitude prior that excludes the bin's amplitude (e.g. one meant for another reference
    energy) cuts the posterior at its edge: the bin is flagged."""
    with_priors(flare_datasets)
    flare_datasets.models[0].spectral_model.amplitude.prior = LogUniformPrior(min=1e-13, max=3e-11)
    result = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:1], selection_optional=["posterior"], sampler_opts=FAST
    ).run(flare_datasets)
    assert result.to_table()["sampler_at_prior_edge"][0]


def test_report_shows_posteriors_and_population(posterior_run):
    _, _, result = posterior_run
    page = result.to_html(populations=[result.population("index")])
    assert "posterior of each fitted parameter (violins, their medians as lines)" in page
    assert "The population of index: the posterior of its mean and scatter" in page
    assert "Population of index (normal, 2 bins)" in page
    from gammapy_trs.result.summary import summary_table, value_with_error

    table = summary_table(result)
    assert table.colnames[-3:] == ["index (posterior)", "amplitude (posterior) [TeV-1 s-1 cm-2]", "ln B"]
    assert value_with_error(4.0905, 0.3312, error_high=0.3851) == "4.09 -0.33 +0.39"
    assert value_with_error(1.0412e-10, 1.31e-11, error_high=1.28e-11) == "(1.04 -0.13 +0.13)e-10"
    assert page.count("data:image/png;base64,") == result.to_html().count("data:image/png;base64,") + 1


def test_posterior_figures_are_readable(posterior_run, tmp_path):
    """The figure of the posteriors (among the run's figures) and the population's: labels inside
    the figure, tick labels on every axis, markers within the limits."""
    from test_gammapy_formats import assert_readable
    from gammapy_trs.result import figures

    _, _, result = posterior_run
    assert "posteriors" in figures.figure_names(result)
    drawn = []
    original = figures._save
    figures._save = lambda fig, path, dpi=figures.DPI: drawn.append(fig) or original(fig, path, dpi)
    try:
        figures.save_figure(result, "posteriors", tmp_path / "posteriors.png")
        figures.save_population_figure(result.population("index"), tmp_path / "population.png")
    finally:
        figures._save = original
    for fig in drawn:
        assert_readable(fig)
    axes = drawn[0].axes
    assert len(axes) == 2 and axes[0].get_ylabel() == "index" and axes[1].get_ylabel().startswith("amplitude at 1 TeV [")
    with mpl_plot_check():
        axes = result.plot_corner(1)
    assert_readable(axes[0, 0].figure)


def test_gammapy_engine_samples_the_same_posterior(flare_datasets, flare_intervals):
    """The posterior step on Gammapy's likelihood (engine="gammapy", as its Sampler evaluates it)
    gives the compiled engine's posterior: the same seed, the same likelihood to 1e-10."""
    with_priors(flare_datasets)
    kwargs = dict(time_intervals=flare_intervals[2:3], selection_optional=["posterior"], sampler_opts=FAST, random_state=5)
    runs = {engine: TimeResolvedSpectrumEstimator(engine=engine, **kwargs).run(flare_datasets) for engine in ("compiled", "gammapy")}
    assert [run.meta["engine"] for run in runs.values()] == ["compiled", "gammapy"]
    compiled, gammapy = (run.to_table() for run in runs.values())
    for name in ("index", "amplitude"):
        width = compiled[f"{name}_credible_hi"][0] - compiled[f"{name}_credible_lo"][0]
        for column in ("median", "credible_lo", "credible_hi"):
            assert abs(gammapy[f"{name}_{column}"][0] - compiled[f"{name}_{column}"][0]) < 0.05 * width, (name, column)
    error = np.hypot(gammapy["log_evidence_err"][0], compiled["log_evidence_err"][0])
    assert abs(gammapy["log_evidence"][0] - compiled["log_evidence"][0]) < error
    assert gammapy["sampler_converged"][0] and compiled["sampler_converged"][0]
