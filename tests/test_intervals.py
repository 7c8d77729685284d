import numpy as np
import astropy.units as u
import pytest
from astropy.time import Time
from numpy.testing import assert_allclose
from gammapy.data import GTI
from gammapy.maps import TimeMapAxis
from gammapy_trs import as_gti
from conftest import T0, make_intervals


def _start_stop_mjd(gti):
    return gti.time_start.mjd, gti.time_stop.mjd


def test_as_gti_list_of_time():
    intervals = make_intervals(3, width=15 * u.min)
    gti = as_gti(intervals)
    start, stop = _start_stop_mjd(gti)
    assert len(gti.table) == 3
    assert_allclose(start, [i[0].mjd for i in intervals], rtol=0, atol=1e-10)
    assert_allclose(stop, [i[1].mjd for i in intervals], rtol=0, atol=1e-10)


def test_as_gti_sorts_intervals():
    intervals = make_intervals(3)
    gti = as_gti(intervals[::-1])
    assert np.all(np.diff(gti.time_start.mjd) > 0)
    assert_allclose(gti.time_start[0].mjd, T0.mjd, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["gti", "axis", "array"])
def test_as_gti_other_inputs(kind):
    intervals = make_intervals(4)
    reference = as_gti(intervals)
    if kind == "gti":
        value = GTI.from_time_intervals(intervals)
    elif kind == "axis":
        value = TimeMapAxis.from_gti(reference)
    else:
        value = Time([[i[0].mjd, i[1].mjd] for i in intervals], format="mjd")
    gti = as_gti(value)
    assert_allclose(gti.time_start.mjd, reference.time_start.mjd, rtol=0, atol=1e-10)
    assert_allclose(gti.time_stop.mjd, reference.time_stop.mjd, rtol=0, atol=1e-10)


def test_as_gti_touching_intervals_within_atol():
    a, b = make_intervals(2)
    b = Time([b[0] - 0.5 * u.us, b[1]])
    assert len(as_gti([a, b]).table) == 2


def test_as_gti_empty():
    with pytest.raises(ValueError, match="time_intervals is empty"):
        as_gti([])


def test_as_gti_stop_before_start():
    bad = Time(["2026-01-01T01:00", "2026-01-01T00:00"])
    with pytest.raises(ValueError, match="Time interval 0 stops before it starts"):
        as_gti([bad])


def test_as_gti_zero_length():
    bad = Time(["2026-01-01T01:00", "2026-01-01T01:00"])
    with pytest.raises(ValueError, match="stops before it starts"):
        as_gti([bad])


def test_as_gti_overlap():
    a = Time(["2026-01-01T00:00", "2026-01-01T00:30"])
    b = Time(["2026-01-01T00:20", "2026-01-01T00:40"])
    with pytest.raises(ValueError, match="Time intervals overlap"):
        as_gti([a, b])


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("2026-01-01", "time_intervals must be a list"),
        (5, "time_intervals must be a list"),
        ([Time("2026-01-01")], r"time_intervals\[0\] must be a Time"),
        ([(1, 2)], r"time_intervals\[0\] must be a Time"),
        (Time(["2026-01-01", "2026-01-02", "2026-01-03"]), r"shape \(n_bins, 2\)"),
    ],
)
def test_as_gti_wrong_type(value, match):
    with pytest.raises(TypeError, match=match):
        as_gti(value)
