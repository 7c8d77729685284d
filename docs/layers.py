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


SEALED = {"engine": "gammapy_trs.engine"}
"""Folders whose modules the rest of the package does not import: only their package (its
``__init__``), the seam. The fast path lives in ``engine/``."""


def seal_breaches(graph):
    """Imports of a sealed folder's modules from outside it (not through its package)."""
    bad = []
    for module, targets in graph.items():
        for target in targets:
            name = folder(target)
            if name in SEALED and folder(module) != name and target != SEALED[name]:
                bad.append((module, target))
    return sorted(bad)


INTERNALS_MODULE = "gammapy_trs/utils/gammapy_internals.py"
"""The one module that touches Gammapy's private attributes."""

NOT_GAMMAPY = {
    "_exit": "os._exit, the documented way to end a process at once (a worker's watchdog)",
    "_processes": "the worker processes of concurrent.futures.ProcessPoolExecutor, terminated on Ctrl-C",
}
"""Private names outside Gammapy that the package uses, with why."""


def _own_private_names(root=ROOT):
    """The private names the package defines itself: functions, classes, module names, ``self._x``."""
    names = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.startswith("_"):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id.startswith("_"):
                names.add(node.id)
    return {name for name in names if name.startswith("_")}


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _gammapy_class(origin):
    """The Gammapy object imported as ``from module import name``."""
    import importlib

    module, name = origin
    return getattr(importlib.import_module(module), name, None)


def private_accesses(root=ROOT):
    """Uses of a private name that the package does not define, outside `INTERNALS_MODULE`.

    Found by an AST scan: an attribute ``x._name`` (read, written or deleted),
    a string ``"_name"`` given to ``getattr``, ``setattr`` or ``hasattr``, an
    import of a private name from Gammapy, and a class body that overrides a
    private name of the Gammapy class it subclasses. Names of `NOT_GAMMAPY`
    are left out.

    Returns
    -------
    accesses : list of tuple
        ``(file, line, name)``.
    """
    own = _own_private_names(root)
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = str(path.relative_to(root.parent))
        if relative == INTERNALS_MODULE:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        gammapy_names = {
            alias.asname or alias.name: (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gammapy")
            for alias in node.names
        }
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in own:
                names.append(node.attr)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr"):
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                    if _is_private(node.args[1].value) and node.args[1].value not in own:
                        names.append(node.args[1].value)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gammapy"):
                names += [alias.name for alias in node.names if _is_private(alias.name)]
            elif isinstance(node, ast.ClassDef):
                bases = [_gammapy_class(gammapy_names[b.id]) for b in node.bases if getattr(b, "id", None) in gammapy_names]
                for item in node.body:
                    defined = [t.id for t in getattr(item, "targets", []) if isinstance(t, ast.Name)]
                    defined += [item.name] if isinstance(item, ast.FunctionDef) else []
                    names += [name for name in defined if _is_private(name) and any(hasattr(b, name) for b in bases)]
            found += [(relative, node.lineno, name) for name in names if name not in NOT_GAMMAPY]
    return sorted(found)


def long_functions(folder_name, limit=60, root=ROOT):
    """Functions of a folder with more than ``limit`` lines of code (docstrings, comments and blank
    lines not counted), a list of ``(file, function, lines)``."""
    found = []
    for path in sorted((root / folder_name).rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source, filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            skip = set()
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                skip = set(range(body[0].lineno, body[0].end_lineno + 1))
            code = [
                number
                for number in range(node.lineno, node.end_lineno + 1)
                if number not in skip and lines[number - 1].strip() and not lines[number - 1].strip().startswith("#")
            ]
            if len(code) > limit:
                found.append((str(path.relative_to(root.parent)), node.name, len(code)))
    return found


def _code_lines(path):
    """The lines of code of a file, normalised: no docstring, comment, blank line or import."""
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                skip |= set(range(body[0].lineno, body[0].end_lineno + 1))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip |= set(range(node.lineno, node.end_lineno + 1))
    result = []
    for number, line in enumerate(source.splitlines(), start=1):
        text = " ".join(line.split("#")[0].split()) if "#" in line and '"' not in line and "'" not in line else " ".join(line.split())
        if number in skip or not text or text in (")", "]", "}", "),", "],", "},", "):", "else:", "try:", "finally:"):
            continue
        result.append((number, text))
    return result


def duplicated_code(n_lines=6, root=ROOT):
    """Runs of ``n_lines`` identical lines of code (docstrings, comments and imports aside) found
    twice in the package, a list of ``((file, line), (file, line))``."""
    seen, found = {}, []
    for path in sorted(root.rglob("*.py")):
        lines = _code_lines(path)
        relative = str(path.relative_to(root.parent))
        last = {}
        for start in range(len(lines) - n_lines + 1):
            key = "\n".join(text for _, text in lines[start:start + n_lines])
            place = (relative, lines[start][0])
            if key in seen and seen[key][0] != relative or key in seen and lines[start][0] - last.get(key, -10**9) >= n_lines:
                found.append((seen[key], place))
            seen.setdefault(key, place)
            last[key] = lines[start][0]
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
