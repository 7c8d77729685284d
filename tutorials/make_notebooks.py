"""Make the Jupyter notebooks of the tutorials from their sphinx-gallery sources.

    python tutorials/make_notebooks.py          # writes tutorials/notebooks/*.ipynb
    python tutorials/make_notebooks.py --check  # fails if a notebook is out of date

The notebooks are generated, never edited by hand: the text blocks of a
tutorial (its docstring and the comment blocks after a ``####...`` line)
become Markdown cells, the code between them code cells.
"""

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["script_to_notebook", "notebook_text", "TUTORIALS", "NOTEBOOKS"]

TUTORIALS = Path(__file__).resolve().parent
NOTEBOOKS = TUTORIALS / "notebooks"
SEPARATOR = re.compile(r"^(#{20,}|# %%)\s*$")
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _markdown(rst):
    """The reStructuredText of the tutorials (titles, literals, links) as Markdown."""
    lines, out = rst.strip("\n").splitlines(), []
    for idx, line in enumerate(lines):
        underline = lines[idx + 1] if idx + 1 < len(lines) else ""
        if re.fullmatch(r"(=+|-+)", line.strip()) and out and len(line.strip()) >= len(lines[idx - 1].strip()):
            continue
        if underline and re.fullmatch(r"=+", underline.strip()) and len(underline.strip()) >= len(line.strip()):
            out.append(f"# {line.strip()}")
        elif underline and re.fullmatch(r"-+", underline.strip()) and len(underline.strip()) >= len(line.strip()):
            out.append(f"## {line.strip()}")
        else:
            out.append(line)
    text = "\n".join(out)
    text = re.sub(r"`([^`<]+?) <([^>]+)>`_+", r"[\1](\2)", text)
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    text = re.sub(r"(?<![`\w])`~?([\w.]+)`(?!`)", lambda m: f"`{m.group(1).split('.')[-1]}`", text)
    return text


def _cell(kind, source):
    source = source.strip("\n")
    lines = source.splitlines(keepends=True)
    cell = {"cell_type": kind, "metadata": {}, "source": lines}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _blocks(code):
    """(kind, text) blocks of the code after the docstring."""
    blocks, current, in_text = [], [], False
    for line in code.splitlines():
        if SEPARATOR.match(line):
            if current:
                blocks.append(("code", "\n".join(current)))
            current, in_text = [], True
            continue
        if in_text and (line.startswith("#") or not line.strip()) and not (not line.strip() and not current):
            if line.startswith("#"):
                current.append(line[2:] if line.startswith("# ") else line[1:])
                continue
            blocks.append(("markdown", "\n".join(current)))
            current, in_text = [], False
            continue
        if in_text:
            blocks.append(("markdown", "\n".join(current)))
            current, in_text = [], False
        if line.startswith("# sphinx_gallery_"):
            continue
        current.append(line)
    if current:
        blocks.append(("markdown" if in_text else "code", "\n".join(current)))
    return blocks


def script_to_notebook(path):
    """The notebook of a sphinx-gallery script, a dict in the nbformat 4 layout."""
    source = Path(path).read_text()
    match = re.match(r'\s*"""(.*?)"""\n', source, flags=re.S)
    cells = [_cell("markdown", _markdown(match.group(1)))] if match else []
    body = source[match.end():] if match else source
    for kind, text in _blocks(body):
        if text.strip():
            cells.append(_cell(kind, _markdown(text) if kind == "markdown" else text))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNEL,
            "language_info": {"name": "python"},
            "gammapy_trs": {"generated_from": f"tutorials/{Path(path).name}"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_text(path):
    """The JSON text of the notebook of a script, as written."""
    notebook = script_to_notebook(path)
    for idx, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{idx}"
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def notebook_path(script):
    """The notebook of a tutorial script: ``notebooks/<name without plot_>.ipynb``."""
    return NOTEBOOKS / f"{Path(script).stem.removeprefix('plot_')}.ipynb"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail if a notebook is out of date.")
    args = parser.parse_args(argv)
    stale = []
    NOTEBOOKS.mkdir(exist_ok=True)
    for script in sorted(TUTORIALS.glob("plot_*.py")):
        path, text = notebook_path(script), notebook_text(script)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
            print(f"Wrote {path}")
    if args.check and stale:
        print("Out of date (run python tutorials/make_notebooks.py): " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
