"""The package layout: layers, imports that run one way, no backend switch in library code."""

import importlib.util
import re
from pathlib import Path
import matplotlib
import pytest
from numpy.testing import assert_allclose
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.estimation import steps as steps_module
from gammapy_trs.estimation.steps import STEPS, BinStep, selectable_steps
from gammapy_trs.result.quantities import QuantityInfo

ROOT = Path(__file__).resolve().parents[1]


def load_layers():
    spec = importlib.util.spec_from_file_location("layers", ROOT / "docs" / "layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layers():
    return load_layers()


def test_every_folder_has_a_layer(layers):
    graph = layers.import_graph()
    folders = {layers.folder(module) for module in graph}
    assert folders == {name for row in layers.LAYERS for name in row}


def test_no_import_circle(layers):
    assert layers.circles(layers.import_graph()) == []


def test_no_import_up_or_across_layers(layers):
    assert layers.upward_imports(layers.import_graph()) == []


def test_checks_find_what_they_look_for(layers):
    graph = {"gammapy_trs.utils.a": {"gammapy_trs.result.b"}, "gammapy_trs.result.b": {"gammapy_trs.utils.a"}}
    assert layers.upward_imports(graph) == [("gammapy_trs.utils.a", "gammapy_trs.result.b")]
    assert layers.circles(graph) == [["gammapy_trs.result.b", "gammapy_trs.utils.a"]]


def test_no_matplotlib_use_in_library_code():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "gammapy_trs").rglob("*.py")
        if re.search(r"matplotlib\.use\(|\bplt\.switch_backend\(", path.read_text())
    ]
    assert offenders == []


def test_app_figures_keep_the_backend(tmp_path, flare_datasets, flare_intervals):
    from gammapy_trs.result.figures import save_hysteresis_figure, save_parameters_figure

    backend = matplotlib.get_backend()
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    paths = [
        save_parameters_figure(result, tmp_path / "p.png"),
        save_hysteresis_figure(result, tmp_path / "h.png", "amplitude", "index"),
    ]
    assert all(path.stat().st_size > 1000 for path in paths)
    assert matplotlib.get_backend() == backend


def test_gammapy_private_names_only_in_the_internals_module(layers):
    """An AST scan: no private attribute the package does not define, no private import from
    Gammapy, no override of a Gammapy private, outside utils/gammapy_internals.py."""
    assert layers.private_accesses() == []
    assert "__class__ =" not in "".join(
        path.read_text() for path in (ROOT / "gammapy_trs").rglob("*.py") if path.name != "gammapy_internals.py"
    )


def test_the_private_access_scan_finds_what_it_looks_for(layers, tmp_path):
    package = tmp_path / "gammapy_trs"
    package.mkdir()
    (package / "a.py").write_text(
        "from gammapy.datasets import Datasets\n"
        "from gammapy.modeling.models import _set_models_penalties\n"
        "def f(models, dataset):\n"
        "    return models._penalties, getattr(dataset, '_geom')\n"
        "class D(Datasets):\n"
        "    def _stat_sum_likelihood(self):\n"
        "        return 0\n"
        "    def _mine(self):\n"
        "        return self._mine\n"
    )
    found = {name for _, _, name in layers.private_accesses(package)}
    assert found == {"_set_models_penalties", "_penalties", "_geom", "_stat_sum_likelihood"}


def test_the_engine_is_sealed(layers):
    """Nothing outside engine/ imports its modules: only the package, the seam."""
    assert layers.seal_breaches(layers.import_graph()) == []
    graph = {"gammapy_trs.estimation.a": {"gammapy_trs.engine.fast_fit", "gammapy_trs.engine"}}
    assert layers.seal_breaches(graph) == [("gammapy_trs.estimation.a", "gammapy_trs.engine.fast_fit")]


def test_no_long_function_in_the_estimation(layers):
    assert layers.long_functions("estimation", limit=60) == []


def test_no_duplicated_code(layers):
    assert layers.duplicated_code(n_lines=6) == []


def test_time_intervals_can_be_set_after_construction(flare_datasets, flare_intervals):
    estimator = TimeResolvedSpectrumEstimator()
    estimator.time_intervals = flare_intervals[:3]
    assert len(estimator.time_intervals.table) == 3
    result = estimator.run(flare_datasets)
    assert result.n_bins == 3
    estimator.time_intervals = None
    assert estimator.time_intervals is None
    with pytest.raises(TypeError, match="time_intervals must be"):
        estimator.time_intervals = "2026-01-01"


class CountsRatioStep(BinStep):
    """The example of the developer guide: predicted over observed counts in the bin."""

    name = "counts-ratio"

    def quantities(self):
        return [QuantityInfo("counts_ratio", description="npred / counts in the fit mask")]

    def run(self, context):
        npred = sum(float(d.npred().data[d.mask.data].sum()) for d in context.datasets)
        counts = sum(float(d.counts.data[d.mask.data].sum()) for d in context.datasets)
        return {"counts_ratio": npred / counts}


def test_a_new_step_is_one_class_and_one_registration(monkeypatch, flare_datasets, flare_intervals):
    # the registration line: STEPS = [..., CountsRatioStep]
    monkeypatch.setattr(steps_module, "STEPS", [*STEPS, CountsRatioStep])
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals, selection_optional=["counts-ratio"]
    )
    result = estimator.run(flare_datasets)
    ratio = result.quantity("counts_ratio")
    assert ratio.shape == (6,)
    assert_allclose(ratio, 1, atol=0.05)
    assert result.descriptions["counts_ratio"] == "npred / counts in the fit mask"
    assert result.to_table()["counts_ratio"].description == "npred / counts in the fit mask"


def test_selectable_steps():
    assert selectable_steps() == ["ts", "errn-errp", "ul", "flux", "sed", "posterior"]
    assert TimeResolvedSpectrumEstimator().available_selection_optional == selectable_steps()
    # "all" is every step but the posterior, which needs priors and samples for minutes
    assert TimeResolvedSpectrumEstimator(selection_optional="all").selection_optional == selectable_steps()[:-1]
