"""The package's layers and its import graph, read from the source with `ast`.

Used by the documentation build (the picture and the table of
``development.rst``) and by ``tests/test_layout.py`` (no import circle, no
import from a lower layer up to a higher one). Run it to redraw the picture::

    python docs/layers.py docs/_static/layers.png
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "gammapy_trs"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS = [
    ["utils"],
    ["binning", "engine"],
    ["reduction", "result"],
    ["estimation"],
    ["samples"],
    ["app"],
    ["(package)"],
]
"""Folders from the bottom layer up; a module imports only from its own folder and lower layers."""


def module_name(path, root=ROOT):
    """Dotted module name of a file below the package folder."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def folder(module):
    """The layer folder of a module: its first sub-package, or "(package)" for the top."""
    parts = module.split(".")
    if len(parts) < 2 or (ROOT / parts[1]).with_suffix(".py").exists():
        return "(package)"
    return parts[1]


def layer(module):
    """Index of the layer of a module in `LAYERS`."""
    name = folder(module)
    return next(idx for idx, folders in enumerate(LAYERS) if name in folders)


def _resolve(module, is_package, node):
    if node.level == 0:
        return node.module
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root=ROOT):
    """Modules of the package and the package modules each imports (anywhere in the file).

    Returns
    -------
    graph : dict of str to set of str
        Module name to the names of the package modules it imports.
    """
    modules = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = defaultdict(set)
    for module, path in modules.items():
        graph[module]
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(module, path.name == "__init__.py", node)
                # "from package import submodule" imports the submodule, else the package
                names = [
                    f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                    for alias in node.names
                ]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name.startswith(PACKAGE) and name != module:
                    graph[module].add(name)
    return dict(graph)


def upward_imports(graph):
    """Imports from a module to a higher layer, or across folders of the same layer."""
    bad = []
    for module, targets in graph.items():
        for target in targets:
            if folder(target) == folder(module) or folder(target) == "(package)" and target == PACKAGE:
                continue
            if layer(target) >= layer(module):
                bad.append((module, target))
    return sorted(bad)


def circles(graph):
    """Import circles between modules, each a list of module names (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def folder_edges(graph):
    """Number of module imports between layer folders, a dict of (from, to) to int."""
    edges = defaultdict(int)
    for module, targets in graph.items():
        for target in targets:
            if folder(module) != folder(target):
                edges[(folder(module), folder(target))] += 1
    return dict(edges)


def draw(path, graph=None):
    """Draw the layers (folders with their modules) and the imports between them."""
    from matplotlib.figure import Figure

    graph = import_graph() if graph is None else graph
    by_folder = defaultdict(list)
    for module in graph:
        by_folder[folder(module)].append(module.rpartition(".")[2] if "." in module else module)
    fig = Figure(figsize=(11, 9), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    centers = {}
    for row, folders in enumerate(LAYERS):
        for col, name in enumerate(folders):
            x = (col + 0.5) / len(folders)
            y = row + 0.5
            centers[name] = (x, y)
            modules = ", ".join(sorted(set(by_folder[name])))
            label = f"{name}/\n" + "\n".join(_wrap(modules, 48))
            ax.text(
                x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc="#eef3fb", ec="#4a6fa5"),
            )
    for (src, dst), n in folder_edges(graph).items():
        (x0, y0), (x1, y1) = centers[src], centers[dst]
        ax.annotate(
            "", xy=(x1, y1 + 0.28), xytext=(x0, y0 - 0.28),
            arrowprops=dict(arrowstyle="->", color="grey", lw=0.6 + 0.15 * n, alpha=0.7),
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, len(LAYERS))
    ax.set_title("Layers of gammapy_trs, bottom up; arrows: imports (wider: more modules)")
    fig.savefig(path, dpi=90)
    return path


def _wrap(text, width):
    lines, line = [], ""
    for word in text.split(", "):
        if line and len(line) + len(word) + 2 > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return lines + [line]


def layers_table():
    """The layers as reStructuredText: folder, modules, the folders each imports."""
    graph = import_graph()
    edges = folder_edges(graph)
    lines = [".. list-table::", "   :header-rows: 1", "", "   * - Layer", "     - Folder",
             "     - Modules", "     - Imports from"]
    for row, folders in reversed(list(enumerate(LAYERS))):
        for name in folders:
            modules = sorted(m for m in graph if folder(m) == name)
            used = sorted({dst for (src, dst) in edges if src == name})
            lines += [
                f"   * - {row + 1}",
                f"     - ``{name}``",
                "     - " + ", ".join(f"``{m}``" for m in modules),
                "     - " + (", ".join(f"``{u}``" for u in used) or "(Gammapy only)"),
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(draw(sys.argv[1] if len(sys.argv) > 1 else "layers.png"))
