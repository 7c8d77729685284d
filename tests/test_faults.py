"""Fault injection: each way a bin, a worker, a file or an input can go wrong, and what it gives.

Flags and errors (see the statistics page of the docs):
- a failed fit: ``success=False``, NaN for every fitted value and error, ``stat``, ``npred``,
  TS, profile errors and fluxes, and the reason in ``fit_message``;
- an invalid MINOS interval: NaN ``<par>_errn`` and ``<par>_errp``;
- an upper limit (``is_ul``) wherever sqrt_ts is below the threshold or the fit failed,
  always finite and positive;
- invalid inputs, unsupported models and dead workers: an error at the call, naming the fault.
"""

import os
import time
import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets, FluxPointsDataset, SpectrumDataset
from gammapy.estimators import FluxPoints
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    CompoundSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.estimation.checkpoint import CheckpointMismatchError
from gammapy_trs.utils.parallel import WorkerLostError
from gammapy_trs.result.formats import NotAResultError, get_format
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, make_intervals, power_law_model

SHORT = make_intervals(6, width=2 * u.s)


@pytest.fixture(scope="module")
def short_bins():
    """Six 2-s bins of a bright flare (seed 5): two have no counts at all."""
    truth = PowerLawSpectralModel(index=3, amplitude=1e-10 * AMPLITUDE_UNIT)
    datasets = simulate_onoff_datasets(SHORT, truth, random_state=5)
    datasets.models = power_law_model()
    return datasets


@pytest.fixture(scope="module")
def short_result(short_bins):
    return TimeResolvedSpectrumEstimator(time_intervals=SHORT, selection_optional="all").run(short_bins)


def test_empty_and_failed_bins_get_positive_upper_limits(short_bins, short_result):
    counts = [int(d.counts.data.sum()) for d in short_bins]
    assert counts == [2, 0, 3, 0, 1, 2]
    ul = short_result.quantity("amplitude_ul").to_value(AMPLITUDE_UNIT)
    is_ul = short_result.quantity("is_ul")
    assert list(is_ul) == [True, True, False, True, True, True]
    assert np.all(np.isfinite(ul[is_ul])) and np.all(ul[is_ul] > 0)
    # the two bins without counts have the same exposure: the same limit, fit or no fit
    assert_allclose(ul[1], ul[3], rtol=1e-6)
    assert_allclose(ul[1], 3.1845e-10, rtol=1e-3)
    amplitude = short_result.quantity("amplitude").to_value(AMPLITUDE_UNIT)
    ok = is_ul & short_result.success
    assert np.all(ul[ok] > amplitude[ok])
    flux_ul = short_result.quantity("flux_ul")
    assert np.all(np.isfinite(flux_ul[is_ul])) and np.all(flux_ul[is_ul] > 0)


class FailingInBin1(Fit):
    """A genuine Minuit failure in the bin of obs-0001 (a call limit of 2), ordinary fits elsewhere."""

    def run(self, datasets):
        if "obs-0001" not in datasets.names:
            return super().run(datasets)
        saved = self.optimize_opts
        self.optimize_opts = dict(saved, migrad_opts={"ncall": 2})
        try:
            return super().run(datasets)
        finally:
            self.optimize_opts = saved


def test_failed_fit_stores_nan_and_the_reason(flare_datasets, flare_intervals):
    short_result = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:3], selection_optional=["ts", "errn-errp", "flux", "ul"], fit=FailingInBin1()
    ).run(flare_datasets)
    failed = ~short_result.success
    assert list(failed) == [False, True, False]
    for name in ("index", "index_err", "amplitude", "amplitude_err", "stat", "npred", "ts",
                 "sqrt_ts", "index_errn", "amplitude_errp", "flux", "flux_err", "eflux"):
        assert np.isnan(short_result.quantity(name)[1]), name
    message = short_result.quantity("fit_message")
    assert "Optimization failed" in message[1]
    assert message[0] == "Optimization terminated successfully."
    model = short_result.models[1]
    assert np.isnan(model.spectral_model.index.value)
    assert short_result.quantity("counts")[1] == flare_datasets[1].counts.data.sum()  # the data stay


class InvalidMinos(Fit):
    def confidence(self, *args, **kwargs):
        result = super().confidence(*args, **kwargs)
        return dict(result, success=False, message="Minos terminated, but result is invalid.")


def test_invalid_minos_intervals_are_found_again_on_the_profile(flare_datasets, flare_intervals):
    """An interval MINOS marks invalid is not used: its ends are found again by bracketing the
    profile at its level (a Fit subclass runs on the Gammapy engine)."""
    kwargs = dict(time_intervals=flare_intervals[:2], selection_optional=["errn-errp"])
    reference = TimeResolvedSpectrumEstimator(engine="gammapy", **kwargs).run(flare_datasets)
    result = TimeResolvedSpectrumEstimator(fit=InvalidMinos(), **kwargs).run(flare_datasets)
    assert result.meta["engine"] == "gammapy"
    for name in ("index_errn", "index_errp", "amplitude_errn", "amplitude_errp"):
        assert_allclose(result.quantity(name), reference.quantity(name), rtol=5e-3, err_msg=name)
    assert result.success.all()


def compound_model(linked=False):
    first = PowerLawSpectralModel(index=2.5, amplitude=5e-11 * AMPLITUDE_UNIT)
    second = PowerLawSpectralModel(index=3.5, amplitude=5e-11 * AMPLITUDE_UNIT)
    if linked:
        second.index = first.index
    return SkyModel(spectral_model=CompoundSpectralModel(first, second, np.add), name="source")


def test_compound_source_ts_against_the_whole_source(flare_datasets, flare_intervals, tmp_path):
    flare_datasets.models = compound_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["ts", "flux"]
    )
    result = estimator.run(flare_datasets)
    assert result.parameter_names == [
        "spectral.model1.index", "spectral.model1.amplitude",
        "spectral.model2.index", "spectral.model2.amplitude",
    ]
    # the whole source against nothing: about the TS of the single power law
    single = Datasets([d.copy(name=d.name) for d in flare_datasets])
    single.models = power_law_model()
    reference = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["ts"]
    ).run(single)
    assert_allclose(result.quantity("ts"), reference.quantity("ts"), rtol=0.02)
    assert np.all(result.quantity("ts") > 300)
    result.write(tmp_path / "compound.fits")
    read = TimeResolvedSpectrum.read(tmp_path / "compound.fits")
    assert read.parameter_names == result.parameter_names


def test_compound_source_upper_limit_is_refused_at_the_call(flare_datasets, flare_intervals):
    flare_datasets.models = compound_model()
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional=["ul"])
    with pytest.raises(ValueError, match=r"needs a source model with one free norm.*has 2"):
        estimator.run(flare_datasets)


def test_linked_parameter_fitted_once_and_written(flare_datasets, flare_intervals, tmp_path):
    flare_datasets.models = compound_model(linked=True)
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["ts"]
    )
    result = estimator.run(flare_datasets)
    assert result.parameter_names == ["index", "spectral.model1.amplitude", "spectral.model2.amplitude"]
    result.write(tmp_path / "linked.fits")
    assert TimeResolvedSpectrum.read(tmp_path / "linked.fits").n_bins == 2


def test_ul_meta_keys_are_valid_fits_keywords(flare_datasets, flare_intervals, tmp_path):
    first = PowerLawSpectralModel(index=2.5, amplitude=1e-10 * AMPLITUDE_UNIT)
    second = PowerLawSpectralModel(index=3.0, amplitude=1e-12 * AMPLITUDE_UNIT)
    second.amplitude.frozen = True
    flare_datasets.models = SkyModel(
        spectral_model=CompoundSpectralModel(first, second, np.add), name="source"
    )
    result = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["ul"], sqrt_ts_threshold_ul=1e3
    ).run(flare_datasets)
    assert "ul_shape_spectral_model1_index" in result.meta
    result.write(tmp_path / "meta.fits")
    assert TimeResolvedSpectrum.read(tmp_path / "meta.fits").meta == result.meta


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda ds: Datasets([SpectrumDataset(counts=ds[0].counts, exposure=ds[0].exposure,
                                              edisp=ds[0].edisp, gti=ds[0].gti, name="nobkg")]),
         ValueError, "without a background"),
        (lambda ds: _set(ds, "counts", np.nan), ValueError, "non-finite counts"),
        (lambda ds: _set(ds, "counts_off", -1), ValueError, "negative counts_off"),
    ],
)
def test_invalid_datasets_are_refused_before_any_fit(flare_datasets, change, error, match):
    datasets = change(flare_datasets)
    if len(datasets.models) == 0:
        datasets.models = power_law_model()
    with pytest.raises(error, match=match):
        TimeResolvedSpectrumEstimator().run(datasets)


def _set(datasets, name, value):
    data = getattr(datasets[0], name)
    setattr(datasets[0], name, data.copy(data=data.data.astype(float)))
    getattr(datasets[0], name).data[0] = value
    return datasets


def test_flux_points_dataset_refused_without_data():
    dataset = FluxPointsDataset(
        data=FluxPoints.from_table(_flux_points_table(), sed_type="dnde"), name="fp"
    )
    with pytest.raises(TypeError, match=r"Unsupported dataset types \{'fp': 'FluxPointsDataset'\}"):
        TimeResolvedSpectrumEstimator().run(Datasets([dataset]))


def _flux_points_table():
    from astropy.table import Table

    table = Table()
    table["e_ref"] = [1.0, 2.0] * u.TeV
    table["dnde"] = [1e-11, 1e-12] * u.Unit("cm-2 s-1 TeV-1")
    table["dnde_err"] = [1e-12, 1e-13] * u.Unit("cm-2 s-1 TeV-1")
    table.meta["SED_TYPE"] = "dnde"
    return table


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(energy_min="1 s"), "energy_min must be one finite energy"),
        (dict(energy_max="ten TeV"), "energy_max must be an energy"),
        (dict(n_sigma=0), "n_sigma must be positive"),
        (dict(n_sigma_ul=-2), "n_sigma_ul must be positive"),
        (dict(time_intervals=make_intervals(11, width=1 * u.s), max_bins=10), "11 time bins is more than max_bins=10"),
    ],
)
def test_invalid_options_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimeResolvedSpectrumEstimator(**kwargs)


class RaisingInOneBin(TimeResolvedSpectrumEstimator):
    """Something unexpected in the bin of obs-0002 (outside the fit)."""

    def estimate_time_bin(self, task):
        if "obs-0002" in task.datasets.names:
            for dataset in task.datasets:
                dataset.exposure = None  # the livetime summary then raises
        return super().estimate_time_bin(task)


def test_nothing_in_one_bin_aborts_the_run(flare_datasets, flare_intervals):
    result = RaisingInOneBin(time_intervals=flare_intervals, selection_optional=["ts"]).run(
        _copies(flare_datasets)
    )
    assert list(result.success) == [True, True, False, True, True, True]
    assert result.quantity("fit_message")[2].startswith(("bin raised", "fit raised"))
    assert np.isnan(result.quantity("ts")[2]) and np.isfinite(result.quantity("ts")[3])


def _copies(datasets):
    copies = Datasets([d.copy(name=d.name) for d in datasets])
    copies.models = datasets.models
    return copies


class DyingWorker(TimeResolvedSpectrumEstimator):
    """The worker process fitting obs-0003 dies (as when killed or out of memory)."""

    def estimate_time_bin(self, task):
        if "obs-0003" in task.datasets.names:
            os.kill(os.getpid(), 9)
        time.sleep(0.5)
        return super().estimate_time_bin(task)


@pytest.mark.parametrize("backend", ["multiprocessing", "ray"])
def test_dead_worker_gives_an_error_within_seconds(flare_datasets, flare_intervals, backend, tmp_path, request):
    if backend == "ray":
        import sys

        ray = request.getfixturevalue("ray_alone")
        # Ray's workers cannot import this test module: send the estimator class by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    estimator = DyingWorker(
        time_intervals=flare_intervals, n_jobs=2, parallel_backend=backend, checkpoint=tmp_path / "cp"
    )
    start = time.perf_counter()
    with pytest.raises(WorkerLostError, match=r"worker process died.*Lost bins: .*2026-01-01T01:00:00") as info:
        estimator.run(flare_datasets)
    assert time.perf_counter() - start < 60
    assert 3 in info.value.lost
    assert "checkpoint" in str(info.value)
    kept = sorted(p.name for p in (tmp_path / "cp").glob("bin-*.json"))
    assert len(kept) == len(info.value.results) and len(kept) < 6


def test_checkpoint_of_other_settings_or_data_is_refused(flare_datasets, flare_intervals, tmp_path):
    path = tmp_path / "cp"
    TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, checkpoint=path).run(flare_datasets)
    with pytest.raises(CheckpointMismatchError, match="other settings or other data"):
        TimeResolvedSpectrumEstimator(
            time_intervals=flare_intervals, checkpoint=path, selection_optional=["ts"]
        ).run(flare_datasets)
    other = _copies(flare_datasets)
    other[0].counts.data[0] += 1
    with pytest.raises(CheckpointMismatchError, match="other settings or other data"):
        TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, checkpoint=path).run(other)


# files


@pytest.fixture(scope="module")
def small_result(flare_datasets_session, flare_intervals):
    datasets = _copies(Datasets(flare_datasets_session))
    datasets.models = power_law_model()
    return TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:2]).run(datasets)


def test_interrupted_write_keeps_the_old_file(small_result, tmp_path, monkeypatch):
    path = tmp_path / "result.fits"
    small_result.write(path)
    before = path.read_bytes()

    def broken(hdulist, *args, **kwargs):
        with open(args[0], "wb") as handle:
            handle.write(b"SIMPLE  = half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(fits.HDUList, "writeto", broken)
    with pytest.raises(KeyboardInterrupt):
        small_result.write(path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.fits"]


def test_damaged_file_is_detected(small_result, tmp_path):
    path = tmp_path / "result.fits"
    small_result.write(path)
    data = bytearray(path.read_bytes())
    header_end = data.index(b"END" + b" " * 77, 2880)  # end of the table header
    position = (header_end // 2880 + 1) * 2880 + 20  # inside the table data
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(NotAResultError, match="checksum .* does not match"):
        TimeResolvedSpectrum.read(path)


def test_other_files_are_not_results(tmp_path, small_result):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])])]).writeto(tmp_path / "other.fits")
    with pytest.raises(NotAResultError, match="not a TimeResolvedSpectrum file"):
        TimeResolvedSpectrum.read(tmp_path / "other.fits")
    (tmp_path / "text.fits").write_text("not fits at all")
    with pytest.raises(NotAResultError, match="not a TimeResolvedSpectrum file"):
        TimeResolvedSpectrum.read(tmp_path / "text.fits")
    small_result.to_table()[["time_min", "success"]].write(tmp_path / "table.ecsv")
    with pytest.raises(NotAResultError, match="not a TimeResolvedSpectrum file"):
        TimeResolvedSpectrum.read(tmp_path / "table.ecsv")


@pytest.mark.parametrize(
    ("name", "format"),
    [("r.FITS", "fits"), ("r.fits.gz", "fits"), ("r.v2.ecsv", "ecsv"), ("r.ECSV.GZ", "ecsv"), ("r.fits.GZ", "fits")],
)
def test_format_from_the_last_suffix(name, format, small_result, tmp_path):
    assert get_format(name) == format
    small_result.write(tmp_path / name)
    read = TimeResolvedSpectrum.read(tmp_path / name)
    assert_allclose(read.quantity("index"), small_result.quantity("index"))


def test_config_refuses_reversed_energies_and_too_many_bins(tmp_path):
    import yaml
    from astropy.time import Time
    from gammapy_trs.app.config import DEFAULT_CONFIG, ConfigError, TRSConfig
    from gammapy_trs.binning import fixed_width_intervals

    data = yaml.safe_load(DEFAULT_CONFIG)
    data["time_resolved"]["estimator"]["energy_min"] = "10 TeV"
    data["time_resolved"]["binning"]["width"] = "-1 s"
    with pytest.raises(ConfigError) as info:
        TRSConfig.from_yaml(yaml.safe_dump(data))
    message = str(info.value)
    assert "time_resolved.estimator: energy_min (10.0 TeV) must be below energy_max (10.0 TeV)" in message
    assert "time_resolved.binning.width: expected a positive duration" in message
    start = Time("2006-07-29T20:30")
    with pytest.raises(ValueError, match="21600000 bins of 1.0 ms .* more than max_bins=100000"):
        fixed_width_intervals(start, start + 6 * u.h, "1 ms")


KILLED_PARENT = """
import os, sys, time
sys.path.insert(0, {tests!r})
from conftest import TRUE_AMPLITUDE, TRUE_INDEX, AMPLITUDE_UNIT, make_intervals, power_law_model
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.samples.simulate import simulate_onoff_datasets

class Slow(TimeResolvedSpectrumEstimator):
    def estimate_time_bin(self, task):
        open(os.path.join({folder!r}, str(os.getpid())), "w").close()
        time.sleep(60)
        return super().estimate_time_bin(task)

intervals = make_intervals(len(TRUE_INDEX))
truth = [PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT) for i, a in zip(TRUE_INDEX, TRUE_AMPLITUDE)]
datasets = simulate_onoff_datasets(intervals, truth, random_state=0)
datasets.models = power_law_model()
Slow(time_intervals=intervals, n_jobs=2, parallel_backend="multiprocessing").run(datasets)
"""


def _alive(pid):
    """Whether a process runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            return not any(line.startswith("State:\tZ") for line in handle)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see the workers")
def test_workers_die_with_a_killed_parent(tmp_path):
    import signal
    import subprocess
    import sys

    folder = tmp_path / "workers"
    folder.mkdir()
    script = KILLED_PARENT.format(tests=os.path.dirname(__file__), folder=str(folder))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.time()
    while len(list(folder.iterdir())) < 2 and time.time() - start < 120:
        time.sleep(0.1)
    workers = [int(path.name) for path in folder.iterdir()]
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = time.time()
    while any(_alive(pid) for pid in workers) and time.time() - killed < 10:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


def test_files_follow_the_umask_and_leave_no_temporary_file(small_result, tmp_path):
    from gammapy_trs.utils.files import atomic_write

    previous = os.umask(0o022)
    try:
        small_result.write(tmp_path / "a.fits")
        os.umask(0o077)
        small_result.write(tmp_path / "b.ecsv")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.fits").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.ecsv").stat().st_mode & 0o777 == 0o600
    # the temporary file of a write killed outright (its writer gone) is removed by the next write
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".a.fits.{gone.stdout.strip()}.abc_123.tmp.fits"
    stale.write_text("half a file")
    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_write(tmp_path / "a.fits", lambda tmp: (tmp.write_text("x"), (_ for _ in ()).throw(RuntimeError("interrupted"))))
    assert not stale.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.fits", "b.ecsv"]
    assert TimeResolvedSpectrum.read(tmp_path / "a.fits").n_bins == small_result.n_bins


def test_edited_and_unverified_files_are_reported(small_result, tmp_path, caplog):
    small_result.write(tmp_path / "a.ecsv")
    text = (tmp_path / "a.ecsv").read_text()
    value = repr(float(small_result.quantity("index")[0].value))
    (tmp_path / "edited.ecsv").write_text(text.replace(value, value[:-1] + ("1" if value[-1] != "1" else "2"), 1))
    with pytest.raises(NotAResultError, match="the checksum does not match the content"):
        TimeResolvedSpectrum.read(tmp_path / "edited.ecsv")
    small_result.write(tmp_path / "a.fits")
    with fits.open(tmp_path / "a.fits") as hdulist:
        for hdu in hdulist:
            for key in ("CHECKSUM", "DATASUM"):
                hdu.header.remove(key, ignore_missing=True)
        hdulist.writeto(tmp_path / "unchecked.fits")
    with caplog.at_level("WARNING", logger="gammapy_trs"):
        read = TimeResolvedSpectrum.read(tmp_path / "unchecked.fits")
    assert "have no checksum: their content is not verified" in caplog.text
    assert_allclose(read.quantity("index"), small_result.quantity("index"))


def test_on_off_background_checked_as_gammapy_computes_it(flare_datasets):
    """An OFF acceptance of zero under OFF counts in the safe mask: Gammapy's background
    (``alpha * counts_off``, alpha with infinities replaced by the largest float) overflows."""
    dataset = flare_datasets[0]
    inside = int(np.flatnonzero(dataset.mask_safe.data.ravel())[0])
    acceptance_off = dataset.acceptance_off.copy(data=dataset.acceptance_off.data.astype(float))
    acceptance_off.data.flat[inside] = 0.0
    counts_off = dataset.counts_off.copy()
    counts_off.data.flat[inside] = 3
    dataset.acceptance_off, dataset.counts_off = acceptance_off, counts_off
    assert not np.isfinite(dataset.background.data.flat[inside])
    with pytest.raises(ValueError, match=f"Dataset '{dataset.name}' has non-finite background"):
        TimeResolvedSpectrumEstimator().run(flare_datasets)


def test_background_values_are_gammapys(flare_datasets):
    """`background_values` of an on-off dataset equal Gammapy's ``background`` map, where an OFF
    acceptance is zero (with and without OFF counts) too; a plain dataset's are its map's."""
    from gammapy_trs.utils.onoff import background_values

    dataset = flare_datasets[0].copy(name="zeros")
    acceptance_off = dataset.acceptance_off.copy(data=dataset.acceptance_off.data.astype(float))
    acceptance_off.data.flat[:2] = 0.0
    counts_off = dataset.counts_off.copy()
    counts_off.data.flat[0], counts_off.data.flat[1] = 0, 4
    dataset.acceptance_off, dataset.counts_off = acceptance_off, counts_off
    with np.errstate(all="ignore"):
        expected = dataset.background.data
    np.testing.assert_array_equal(background_values(dataset), expected)
    plain = flare_datasets[1].to_spectrum_dataset(name="plain")
    assert plain.background is not None
    np.testing.assert_array_equal(background_values(plain), plain.background.data)
