import runpy
from pathlib import Path
from gammapy_trs import TimeResolvedSpectrum

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_quickstart_runs(tmp_path, capsys):
    """The README's first command: the quick start writes a result and two plots."""
    module = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    module["main"](tmp_path)

    result = TimeResolvedSpectrum.read(tmp_path / "time_resolved_spectrum.fits")
    assert result.n_bins == 12
    assert result.success.all()
    for name in ("parameters.png", "hysteresis.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "time bins      : 12" in capsys.readouterr().out
