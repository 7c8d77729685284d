"""`stack_onoff_spectra`: Gammapy's ``stack_reduce`` of on-off spectra, on arrays, bit for bit."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from gammapy.datasets import Datasets
from gammapy.utils.testing import requires_data
from gammapy_trs.utils.onoff import stack_onoff_spectra
from conftest import make_intervals, make_map_datasets

PRODUCTS = {
    "counts": lambda d: d.counts.data,
    "counts_off": lambda d: d.counts_off.data,
    "acceptance": lambda d: d.acceptance.data,
    "acceptance_off": lambda d: d.acceptance_off.data,
    "exposure": lambda d: d.exposure.data,
    "edisp kernel": lambda d: d.edisp.edisp_map.data,
    "edisp exposure": lambda d: d.edisp.exposure_map.data,
    "mask_safe": lambda d: d.mask_safe.data,
    "gti start": lambda d: d.gti.time_start.mjd,
    "gti stop": lambda d: d.gti.time_stop.mjd,
    "livetime": lambda d: d.exposure.meta["livetime"].to_value("s"),
}


def assert_same_stack(datasets):
    """The array stack equals Gammapy's, every product bit for bit (values, dtypes, units)."""
    expected = Datasets(datasets).stack_reduce(name="stacked")
    stacked = stack_onoff_spectra(datasets, name="stacked")
    assert type(stacked) is type(expected) and stacked.name == "stacked"
    for name, get in PRODUCTS.items():
        assert_array_equal(get(stacked), get(expected), err_msg=name)
        assert np.asarray(get(stacked)).dtype == np.asarray(get(expected)).dtype, name
    for name in ("counts", "counts_off", "acceptance", "acceptance_off", "exposure"):
        assert getattr(stacked, name).unit == getattr(expected, name).unit
    if expected.mask_fit is None:
        assert stacked.mask_fit is None
    else:
        assert_array_equal(stacked.mask_fit.data, expected.mask_fit.data)
    if expected.meta_table is None:
        assert stacked.meta_table is None
    else:
        assert stacked.meta_table.colnames == expected.meta_table.colnames
        for column in expected.meta_table.colnames:
            assert_array_equal(stacked.meta_table[column], expected.meta_table[column])
    assert stacked.stat_sum() == expected.stat_sum()
    return stacked


def copies(datasets):
    return [d.copy(name=d.name) for d in datasets]


def test_equals_gammapy_on_simulated_spectra(flare_datasets):
    datasets = copies(flare_datasets)
    before = [(len(d.gti.table), d.counts.data.copy(), d.edisp.edisp_map.data.copy()) for d in datasets]
    assert_same_stack(datasets)
    for d, (n_gti, counts, kernel) in zip(datasets, before):  # the datasets are not changed
        assert len(d.gti.table) == n_gti
        assert_array_equal(d.counts.data, counts)
        assert_array_equal(d.edisp.edisp_map.data, kernel)
    assert_same_stack(copies(flare_datasets)[2:3])  # one dataset: Gammapy's to_masked


def test_equals_gammapy_at_the_edges(flare_datasets):
    """Safe masks that differ (one empty), channels without OFF counts, a non-finite exposure and
    kernel value, fit masks: the sums follow Gammapy's order of operations exactly."""
    datasets = copies(flare_datasets)
    for idx, dataset in enumerate(datasets):
        dataset.mask_safe.data[: idx + 1] = False
        mask_fit = dataset.counts.geom.energy_mask(None, None).copy()
        mask_fit.data = mask_fit.data.copy()
        mask_fit.data[-idx - 1:] = False
        dataset.mask_fit = mask_fit
    datasets[3].mask_safe.data[...] = False  # contributes nothing but its GTI and meta data
    datasets[1].counts_off.data[5:8] = 0
    datasets[4].counts_off.data[...] = 0
    datasets[2].exposure.data[3] = np.nan
    datasets[5].edisp.edisp_map.data[4, 4] = np.inf
    stacked = assert_same_stack(datasets)
    assert np.any(stacked.counts_off.data == 0) or np.all(stacked.counts_off.data > 0)
    assert stacked.gti.time_start[0] == datasets[0].gti.time_start[0]


def test_other_datasets_left_to_gammapy(flare_datasets):
    datasets = copies(flare_datasets)
    datasets[1].mask_fit = datasets[1].counts.geom.energy_mask(None, None)
    assert stack_onoff_spectra(datasets) is None  # a fit mask on some only
    assert stack_onoff_spectra([]) is None
    map_datasets = make_map_datasets(make_intervals(2))
    assert stack_onoff_spectra(list(map_datasets)) is None  # 3D, not on-off
    no_off = copies(flare_datasets)
    no_off[0].counts_off = None
    assert stack_onoff_spectra(no_off) is None


@requires_data()
@pytest.mark.parametrize("members", [slice(0, 15), slice(15, None), slice(None)])
def test_equals_gammapy_on_the_pks2155_night(pks2155_slice_by_slice, members):
    """The reduced H.E.S.S. spectra of the PKS 2155-304 night, as the flux states stack them."""
    assert_same_stack(copies(pks2155_slice_by_slice[members]))
