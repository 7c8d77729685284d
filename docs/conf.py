"""Sphinx configuration of the gammapy-trs documentation."""

import os
import warnings
from importlib.metadata import version as _version

project = "gammapy-trs"
author = "gammapy-trs developers"
release = _version("gammapy-trs")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

numpydoc_show_class_members = False
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
default_role = "obj"

exclude_patterns = ["_build", "_generated", "tutorials/*.ipynb", "tutorials/*.py", "tutorials/*.md5"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "gammapy-trs"

sphinx_gallery_conf = {
    "examples_dirs": ["../tutorials"],
    "gallery_dirs": ["tutorials"],
    "filename_pattern": r"plot_",
    "ignore_pattern": r"(__init__|make_notebooks)\.py",
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
}
if not os.environ.get("GAMMAPY_DATA"):
    # the PKS 2155-304 tutorial needs the H.E.S.S. data: render it without running it
    sphinx_gallery_conf["filename_pattern"] = r"plot_simulated"

warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")


def _generate(app):
    """The layer picture and tables of the developer guide, made from the code."""
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    sys.path.insert(0, str(here))
    import layers
    from gammapy_trs.estimation.steps import STEPS
    from gammapy_trs.result.meta import META_KEYS
    from gammapy_trs.result.quality import QUALITY_FLAGS
    from gammapy_trs.result.quantities import CORE_QUANTITIES
    from gammapy_trs.utils.gammapy_internals import INTERNALS

    from gammapy_trs.app.config import DEFAULT_CONFIG

    out = here / "_generated"
    out.mkdir(exist_ok=True)
    (out / "default_config.yaml").write_text(DEFAULT_CONFIG)
    layers.draw(out / "layers.png")
    (out / "layers_table.rst").write_text(layers.layers_table())

    rows = ["   * - Internal\n     - Accessor\n     - Used by\n     - What for"]
    rows += [
        f"   * - ``{i.name}``\n     - `~gammapy_trs.utils.gammapy_internals.{i.accessor.split(', ')[0]}`"
        f"\n     - {i.used_by}\n     - {i.why}"
        for i in INTERNALS
    ]
    (out / "internals_table.rst").write_text(
        ".. list-table::\n   :header-rows: 1\n   :widths: 30 20 20 30\n\n" + "\n".join(rows) + "\n"
    )

    rows = ["   * - Flag\n     - Bit\n     - When\n     - What it does"]
    rows += [f"   * - ``{f.name}``\n     - {f.bit}\n     - {f.description}\n     - {f.effect}" for f in QUALITY_FLAGS]
    (out / "quality_table.rst").write_text(
        ".. list-table::\n   :header-rows: 1\n   :widths: 15 5 50 30\n\n" + "\n".join(rows) + "\n"
    )

    rows = ["   * - Quantity\n     - Unit\n     - Step\n     - Description"]
    rows += [f"   * - ``{q.name}``\n     - {q.unit or '-'}\n     - (every run)\n     - {q.description}"
             for q in CORE_QUANTITIES]
    for step in STEPS:
        doc = (step.__doc__ or "").strip().splitlines()[0]
        label = f"``{step.name}``" if step.name else "``compare_to``"
        rows.append(f"   * - (see step)\n     - \n     - {label}\n     - {doc}")
    rows += [f"   * - meta ``{k}``\n     - \n     - \n     - {v}" for k, v in META_KEYS.items()]
    (out / "quantities_table.rst").write_text(
        ".. list-table::\n   :header-rows: 1\n   :widths: 20 10 15 55\n\n" + "\n".join(rows) + "\n"
    )


def setup(app):
    app.connect("builder-inited", _generate)
