"""The pieces of the time-sliced reduction, each against the Gammapy code it replaces."""

import logging
import numpy as np
import astropy.units as u
import pytest
from astropy.io import fits
from numpy.testing import assert_allclose, assert_array_equal
from regions import CircleSkyRegion
from gammapy.datasets import SpectrumDataset
from gammapy.makers import SafeMaskMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling.models import TemplateSpectralModel
from gammapy_trs.samples.demo_data import DEMO_SOURCE, simulate_demo_data_store
from gammapy_trs.reduction.cached_observation import CachedObservation, light_and_loaded_copies, open_fits
from gammapy_trs.utils.gammapy_internals import SharedBBoxRegionGeom
from gammapy_trs.reduction.safe_mask import first_inverse, irf_safe_mask, make_mask_energy_aeff_max

ENERGY_TRUE = MapAxis.from_energy_bounds("0.05 TeV", "100 TeV", nbin=30, name="energy_true")


def region_geom(radius=0.1):
    return RegionGeom.create(
        region=CircleSkyRegion(DEMO_SOURCE, radius * u.deg),
        axes=[MapAxis.from_energy_bounds("0.1 TeV", "50 TeV", nbin=12)],
    )


def dataset_with_aeff(values):
    dataset = SpectrumDataset.create(geom=region_geom(), energy_axis_true=ENERGY_TRUE)
    dataset.exposure.quantity = values.reshape(dataset.exposure.data.shape) * u.Unit("m2 h")
    dataset.exposure.meta["livetime"] = 1 * u.h
    return dataset


def aeff_curves():
    """Effective areas (m2): rising, rising then falling, flat, with zeros first, one bin, none."""
    e = ENERGY_TRUE.center.to_value("TeV")
    rising = 1e5 / (1 + (0.3 / e) ** 3)
    falling = rising * np.exp(-e / 30)
    zeros_first = np.where(e < 0.2, 0, rising)
    single = np.where(np.arange(e.size) == 10, 1e5, 0.0)
    return {
        "rising": rising, "falling": falling, "flat": np.full(e.size, 1e5),
        "zeros_first": zeros_first, "single": single, "noisy": rising * (1 + 0.3 * np.sin(7 * np.log(e))),
    }


@pytest.mark.parametrize("name", list(aeff_curves()))
@pytest.mark.parametrize("percent", [1, 10, 50, 99])
def test_aeff_max_mask_equals_gammapy(name, percent):
    dataset = dataset_with_aeff(aeff_curves()[name])
    maker = SafeMaskMaker(methods=["aeff-max"], aeff_percent=percent)
    expected = maker.make_mask_energy_aeff_max(dataset)
    assert_array_equal(make_mask_energy_aeff_max(maker, dataset), expected)


def test_aeff_max_mask_zero_area_warns(caplog):
    dataset = dataset_with_aeff(np.zeros(ENERGY_TRUE.nbin))
    maker = SafeMaskMaker(methods=["aeff-max"])
    with caplog.at_level(logging.WARNING):
        mask = make_mask_energy_aeff_max(maker, dataset)
    assert not mask.data.any()
    assert "Effective area is all zero" in caplog.text


def test_aeff_max_mask_needs_observation_with_fixed_offset():
    maker = SafeMaskMaker(methods=["aeff-max"], fixed_offset=0.5 * u.deg)
    with pytest.raises(ValueError, match="argument is mandatory"):
        make_mask_energy_aeff_max(maker, dataset_with_aeff(aeff_curves()["rising"]))


def test_first_inverse_equals_template_inverse():
    energy = np.geomspace(0.1, 100, 40) * u.TeV
    rng = np.random.default_rng(1)
    for _ in range(20):
        values = np.cumsum(rng.uniform(0, 1, energy.size)) * rng.choice([1, -1]) + 30
        values = np.abs(values) * u.m**2
        model = TemplateSpectralModel(energy=energy, values=values)
        value = rng.uniform(values.min().value, values.max().value) * u.m**2
        expected = model.inverse(value, energy_min=energy[0], energy_max=energy[-1])[0]
        result = first_inverse(model, value, energy[0], energy[-1])
        assert_allclose(result.to_value("TeV"), expected.to_value("TeV"), rtol=0)
    assert np.isnan(first_inverse(model, 1e9 * u.m**2, energy[0], energy[-1]))


def test_irf_safe_mask_respects_overrides():
    class Custom(SafeMaskMaker):
        def make_mask_energy_aeff_max(self, dataset, observation=None):
            return np.zeros(dataset._geom.data_shape, dtype=bool)

    dataset = dataset_with_aeff(aeff_curves()["rising"])
    assert not np.any(irf_safe_mask(Custom(methods=["aeff-max"]), dataset, None))
    assert irf_safe_mask(SafeMaskMaker(methods=["bkg-peak"]), dataset, None) is True


def test_shared_bbox_geometry():
    geom = region_geom()
    shared = SharedBBoxRegionGeom.from_geom(geom)
    derived = shared.to_image().to_cube([ENERGY_TRUE]).squash("energy_true")
    assert type(derived) is SharedBBoxRegionGeom
    assert derived._rectangle_bbox is shared._rectangle_bbox
    assert derived.center_skydir.separation(geom.to_image().center_skydir).to_value("deg") == 0
    assert type(shared.plain) is RegionGeom
    assert shared.plain == geom
    assert shared.plain._rectangle_bbox is shared._rectangle_bbox
    larger = CircleSkyRegion(DEMO_SOURCE, 0.3 * u.deg)
    moved = shared._init_copy(region=larger, wcs=shared.wcs)
    assert "_rectangle_bbox" not in moved.__dict__
    assert_allclose(moved.width.to_value("deg"), RegionGeom(larger, wcs=geom.wcs).width.to_value("deg"))
    assert moved.width[0] > geom.width[0]


@pytest.fixture(scope="module")
def demo_observation(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    store = simulate_demo_data_store(path, n_observations=1, duration=10 * u.min, random_state=2)
    return store.get_observations(required_irf=["aeff", "edisp", "bkg"])[0]


def test_cached_observation_reads_each_file_once(demo_observation, monkeypatch):
    opened = []
    original = fits.open

    def counting_open(name, *args, **kwargs):
        opened.append(str(name))
        return original(name, *args, **kwargs)

    monkeypatch.setattr(fits, "open", counting_open)
    light, loaded = light_and_loaded_copies(demo_observation)
    _ = loaded.aeff, loaded.edisp, loaded.bkg, loaded.events
    loaded.close_files()
    assert len(opened) == 1
    assert type(light) is type(demo_observation)
    assert isinstance(loaded, CachedObservation)
    assert loaded.aeff is loaded.aeff  # read once
    assert "_open_files" not in loaded.__dict__
    assert light.meta is loaded.meta and light._gti is loaded._gti


def test_cached_observation_equals_gammapy(demo_observation):
    _, loaded = light_and_loaded_copies(demo_observation)
    products = [(loaded.aeff, demo_observation.aeff), (loaded.edisp, demo_observation.edisp),
                (loaded.bkg, demo_observation.bkg)]
    events = loaded.events.table, demo_observation.events.table
    loaded.close_files()
    for new, ref in products:
        assert type(new) is type(ref)
        assert_array_equal(new.data, ref.data)
        assert new.axes == ref.axes
    assert events[0].colnames == events[1].colnames
    for name in events[0].colnames:
        assert_array_equal(events[0][name], events[1][name])
    assert loaded.gti.time_sum == demo_observation.gti.time_sum
    assert loaded.meta.obs_info == demo_observation.meta.obs_info


def test_cached_observation_missing_hdu(demo_observation, caplog):
    _, loaded = light_and_loaded_copies(demo_observation)
    loaded.__dict__.pop("psf", None)  # no PSF in the demo data: point it to a missing HDU
    loaded.__dict__["_psf_hdu"] = loaded.__dict__["_aeff_hdu"].__class__(
        hdu_class="psf_table", base_dir=loaded.__dict__["_aeff_hdu"].base_dir,
        file_dir=loaded.__dict__["_aeff_hdu"].file_dir,
        file_name=loaded.__dict__["_aeff_hdu"].file_name, hdu_name="NO-PSF",
    )
    with caplog.at_level(logging.WARNING):
        assert loaded.psf is None
    loaded.close_files()
    assert "HDU 'NO-PSF' not found" in caplog.text


def test_open_fits_reads_gzip_files_once_and_plain_files_as_astropy(tmp_path):
    """A gzip-compressed FITS file is decompressed into memory once (its HDUs then read in any
    order); a plain one is opened by astropy as it is. Both give the HDUs astropy gives."""
    events = fits.BinTableHDU.from_columns([fits.Column("TIME", "D", array=np.arange(1000.0))], name="EVENTS")
    gti = fits.BinTableHDU.from_columns(
        [fits.Column("START", "D", array=[0.0]), fits.Column("STOP", "D", array=[999.0])], name="GTI"
    )
    hdus = fits.HDUList([fits.PrimaryHDU(), events, gti])
    for name in ("run.fits", "run.fits.gz"):
        hdus.writeto(tmp_path / name)
        with fits.open(tmp_path / name) as expected:
            opened = open_fits(str(tmp_path / name))
            for hdu in ("GTI", "EVENTS", "GTI"):  # backwards too
                assert_array_equal(opened[hdu].data, expected[hdu].data)
            assert (opened._file.name == str(tmp_path / name)) == (name == "run.fits")
            data = opened["EVENTS"].data["TIME"]
            opened.close()
            assert_array_equal(data, np.arange(1000.0))  # the data outlive the file
