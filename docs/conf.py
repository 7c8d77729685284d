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

exclude_patterns = ["_build", "tutorials/*.ipynb", "tutorials/*.py", "tutorials/*.md5"]
html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = "gammapy-trs"

sphinx_gallery_conf = {
    "examples_dirs": ["../tutorials"],
    "gallery_dirs": ["tutorials"],
    "filename_pattern": r"plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
}
if not os.environ.get("GAMMAPY_DATA"):
    # the PKS 2155-304 tutorial needs the H.E.S.S. data: render it without running it
    sphinx_gallery_conf["filename_pattern"] = r"plot_simulated"

warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")
