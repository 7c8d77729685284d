import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose
from gammapy.datasets import SpectrumDatasetOnOff
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import make_intervals


def test_simulate_onoff_datasets():
    model = PowerLawSpectralModel(index=2.5, amplitude="1e-10 cm-2 s-1 TeV-1")
    datasets = simulate_onoff_datasets(make_intervals(3), model, random_state=1)
    assert len(datasets) == 3
    assert datasets.names == ["obs-0000", "obs-0001", "obs-0002"]
    for dataset in datasets:
        assert isinstance(dataset, SpectrumDatasetOnOff)
        assert dataset.models is None or len(dataset.models) == 0
        assert_allclose(dataset.exposure.meta["livetime"].to_value(u.s), 1200, rtol=1e-9)
        assert_allclose(dataset.alpha.data, 0.2)
        assert dataset.mask_safe.data.all()
    assert_allclose([d.counts.data.sum() for d in datasets], [309, 352, 348])
    # background: 0.02 s-1 x 1200 s = 24 ON counts, so 24 / alpha = 120 expected OFF counts
    assert_allclose([d.counts_off.data.sum() for d in datasets], [128, 122, 112])
    assert_allclose((datasets[1].gti.time_start[0] - datasets[0].gti.time_stop[0]).to(u.s), 0, atol=1e-6)


def test_simulate_is_reproducible():
    model = PowerLawSpectralModel()
    first = simulate_onoff_datasets(make_intervals(2), model, random_state=3)
    second = simulate_onoff_datasets(make_intervals(2), model, random_state=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.counts.data, b.counts.data)
        np.testing.assert_array_equal(a.counts_off.data, b.counts_off.data)


def test_simulate_wrong_number_of_models():
    with pytest.raises(ValueError, match="Got 2 spectral models for 3 time intervals"):
        simulate_onoff_datasets(make_intervals(3), [PowerLawSpectralModel()] * 2)


def test_stacked_energy_dispersion_is_normalised():
    """Exposures in m2 s, as Gammapy makes them, so that stacking keeps the dispersion normalised."""
    from gammapy.datasets import Datasets
    from gammapy.modeling.models import PowerLawSpectralModel
    from conftest import make_intervals

    datasets = simulate_onoff_datasets(make_intervals(3), PowerLawSpectralModel(), random_state=1)
    for dataset in datasets:
        assert dataset.edisp.exposure_map.unit == dataset.exposure.unit == "m2 s"
    stacked = Datasets(datasets).stack_reduce()
    matrix = stacked.edisp.get_edisp_kernel().pdf_matrix
    # true-energy rows well inside the reconstructed range (0.4-20 TeV) keep all their events
    true_energy = stacked.edisp.get_edisp_kernel().axes["energy_true"].center.to_value("TeV")
    inside = (true_energy > 0.6) & (true_energy < 13)
    np.testing.assert_allclose(matrix[inside].sum(axis=1), 1, atol=2e-3)
