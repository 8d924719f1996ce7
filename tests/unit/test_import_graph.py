"""The package's import graph is a DAG, between its parts (data, embed, features, ...) and
between its modules, counting imports inside functions too: a cycle is a layering mistake
even where Python happens to resolve it. Imports under `if TYPE_CHECKING:` (annotations only,
never executed) are not edges."""

from __future__ import annotations

import ast
from importlib.resources import files
from pathlib import Path

import aktrec

PACKAGE = Path(aktrec.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module -> the aktrec modules it imports (`from aktrec import x` names module aktrec.x).
    The components and the pipeline are installed into the package from their own folders."""
    roots = {"aktrec": PACKAGE, **{name: Path(str(files(name))) for name in ("aktrec.components", "aktrec.pipelines")}}
    modules = {}
    for root_name, root in roots.items():
        for path in root.rglob("*.py"):
            name = ".".join((root_name, *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        tree = ast.parse(path.read_text())
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aktrec"):
                candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
                targets.add(next(c for c in candidates if c in modules))
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in modules}
        graph[name] = {t for t in targets if t != name and not name.startswith(f"{t}.")}
    return graph


# The Kubeflow layer is one part: the runner loads the pipeline, whose components call the steps.
KFP_LAYER = {"aktrec.pipeline", "aktrec.pipelines", "aktrec.components"}


def _part(module: str) -> str:
    part = ".".join(module.split(".")[:2])
    return "aktrec.pipeline" if part in KFP_LAYER else part


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_modules_import_without_cycles():
    assert _cycle(_imports()) is None


def test_parts_import_without_cycles():
    parts: dict[str, set[str]] = {}
    for module, targets in _imports().items():
        parts.setdefault(_part(module), set()).update(_part(t) for t in targets if _part(t) != _part(module))
    assert _cycle(parts) is None
    assert parts["aktrec.validation"] <= {"aktrec.errors"}  # the generic runner knows no domain


def test_the_walk_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
