"""The package's import graph: no cycles, counting imports inside functions (they run too), not those under
`if TYPE_CHECKING:` (they never run); a module's own ancestor packages are not edges (importing any module
imports them first)."""

import ast

from conftest import ROOT

PACKAGE = ROOT / "stakealloc"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = (ast.parse(p.read_text()), p.name == "__init__.py")
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node but the bodies of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (tree, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))}
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in mods and t != name and t not in ancestors}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions():
    g = import_graph()
    assert "stakealloc.report" in g["stakealloc.cli"]  # imported inside functions only
    assert "stakealloc.walkforward" not in g["stakealloc.report"]  # under TYPE_CHECKING only


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_notebook_uses_only_the_public_api():
    """The notebook is what a user writes: it imports `stakealloc`'s public names (its `__all__` and the
    `api` module), never a stage's module."""
    import json

    import stakealloc

    public = set(stakealloc.__all__) | {"api"}
    nb = json.loads((ROOT / "notebooks" / "risk_measure_sensitivity.ipynb").read_text())
    used = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stakealloc"):
                used.append((node.module, {a.name for a in node.names}))
            elif isinstance(node, ast.Import):
                used += [(a.name, set()) for a in node.names if a.name.startswith("stakealloc")]
    assert used, "the notebook imports stakealloc"
    for module, names in used:
        assert module == "stakealloc" and names <= public, (module, names - public)


def test_the_slot_program_loads_neither_pandas_nor_the_config_parser():
    """`stakealloc.slots` is the integer program alone: a benchmark or a library caller imports it without
    pandas and without the fleet file's parser."""
    import subprocess
    import sys

    code = ("import sys, stakealloc.slots; print(sorted(m for m in ('pandas', 'stakealloc.config', "
            "'stakealloc.instruments') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)
