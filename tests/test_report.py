"""The HTML report: one self-contained page (figures, table, tests, provenance), opened in a real
headless browser."""

import base64
import os
import re
import shutil
import subprocess
import astropy.units as u
import pytest
import yaml
from click.testing import CliRunner
from gammapy_trs import find_shape_blocks, fit_flux_states, fit_law
from gammapy_trs.app.analysis import PROVENANCE_NAME
from gammapy_trs.app.cli import cli
from gammapy_trs.result.figures import figure_names
from conftest import every_step_run

EDGES = [0.6, 1.3, 2.8, 6.2, 20] * u.TeV
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def analysis(flare_datasets_session, flare_intervals):
    estimator, datasets = every_step_run(flare_datasets_session, flare_intervals, EDGES)
    result = estimator.run(datasets)
    states = fit_flux_states(result, datasets, n_states=2)
    law = fit_law(result, datasets, "index", n_jobs=1)
    return result, states, find_shape_blocks(result, datasets, "index", n_jobs=1), law


@pytest.fixture(scope="module")
def page(analysis):
    result, states, blocks, law = analysis
    provenance = {"data store": "$GAMMAPY_DATA/hess-dl3-dr1", "configuration": "general:\n  outdir: out\n"}
    return result.to_html(provenance=provenance, flux_states=states, shape_blocks=blocks, laws=[law])


def test_the_page_is_self_contained(analysis, page):
    result, _, _, _ = analysis
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([a-z_]+)\.png">', page)
    assert [name for _, name in images] == figure_names(result) + ["shape_blocks", "law_index_flux"]
    for data, _ in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing is fetched: no link, no external source, one inline style sheet and script
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert page.count("<style>") == 1 and page.count("<script>") == 1


def test_the_page_has_the_table_tests_and_provenance(analysis, page):
    result, states, blocks, law = analysis
    assert "<title>Time-resolved spectrum of source</title>" in page
    assert "6 time bins from 2026-01-01T00:00:00 to 2026-01-01T02:00:00 UTC" in page
    bins = page.split('<h2 id="time-bins">')[1].split("<h2")[0]
    assert bins.count("<tr") == result.n_bins + 1  # the header and one row per bin
    assert "<th>time 2026-01-01 (UTC)</th>" in bins and "00:00:00 - 00:20:00" in bins
    tests = page.split('<h2 id="tests">')[1].split("<h2")[0]
    for name in ("index", "amplitude", "flux"):
        assert f"<td>{name}</td>" in tests
    assert "Flux states" in tests and tests.count('<tr class="">') >= 3 + len(states)
    changes = tests.split("Change points of index")[1]
    assert f"penalty {blocks.table.meta['PENALTY']:.2f} per change" in changes
    assert changes.split("<p>")[0].count("<tr") == len(blocks) + 1
    laws = tests.split("index = a + b * log10(amplitude / N0)")[1]
    assert f"against the shape shared by all bins TS = {law.meta['TS_SHARED']:.1f} for 1 degree(s)" in laws
    assert laws.count("<tr") == 3  # the header, a and b
    provenance = page.split('<h2 id="provenance">')[1]
    assert "<td>gammapy version</td>" in provenance and "<td>engine</td><td>compiled</td>" in provenance
    assert "<td>data store</td><td>$GAMMAPY_DATA/hess-dl3-dr1</td>" in provenance
    assert "<pre>general:\n  outdir: out\n</pre>" in provenance


def test_to_html_writes_a_file_once(analysis, tmp_path):
    result, _, _, _ = analysis
    path = tmp_path / "report.html"
    text = result.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    with pytest.raises(OSError, match="report.html exists: use overwrite=True"):
        result.to_html(path)
    result.to_html(path, overwrite=True, title="PKS <2155>")
    assert "<h1>PKS &lt;2155&gt;</h1>" in path.read_text(encoding="utf-8")


def test_cli_report_takes_the_run_files_beside_the_result(analysis, tmp_path):
    result, states, blocks, law = analysis
    path = tmp_path / "time_resolved_spectrum.fits"
    result.write(path)
    states.write(tmp_path / "flux_states.ecsv")
    blocks.write(tmp_path / "shape_blocks.ecsv")
    law.write(tmp_path / "law_index_flux.ecsv")
    (tmp_path / PROVENANCE_NAME).write_text(yaml.safe_dump({"observations": "33787, 33788"}))
    out = CliRunner().invoke(cli, ["report", str(path)])
    assert out.exit_code == 0, out.output
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<td>observations</td><td>33787, 33788</td>" in text and "Flux states" in text
    assert "Change points of index" in text and 'alt="shape_blocks.png"' in text
    assert "index = a + b * log10(amplitude / N0)" in text and 'alt="law_index_flux.png"' in text
    again = CliRunner().invoke(cli, ["report", str(path)])
    assert again.exit_code == 1 and "exists: use --overwrite" in again.output


def _browser(*args, tmp_path):
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_report_in_a_headless_browser(analysis, tmp_path):
    """The page opened in Chromium: every figure decoded, no console message, a screenshot."""
    if BROWSER is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run installs it.")
        pytest.skip("Chromium is not installed (apt install chromium): the page is checked in CI.")
    result, states, blocks, law = analysis
    path = tmp_path / "report.html"
    result.to_html(path, flux_states=states, shape_blocks=blocks, laws=[law])
    url = path.resolve().as_uri()
    dom = _browser("--virtual-time-budget=5000", "--dump-dom", url, tmp_path=tmp_path)
    n_figures = len(figure_names(result)) + 2  # and the shape blocks and the law
    assert f'data-figures-loaded="{n_figures}/{n_figures}"' in dom.stdout
    assert ":CONSOLE" not in dom.stderr, dom.stderr
    shot = tmp_path / "report.png"
    _browser("--window-size=1200,2400", f"--screenshot={shot}", url, tmp_path=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_flux_states_are_top_level_with_a_table(analysis):
    import gammapy_trs
    from gammapy_trs.result.flux_states import FluxStates

    _, states, _, _ = analysis
    assert gammapy_trs.FluxStates is FluxStates and "fit_flux_states" in gammapy_trs.__all__
    table = states.to_table()
    assert table.colnames == states.table.colnames and len(table) == 2
    table["state"][0] = 99
    assert states.table["state"][0] != 99  # a copy
