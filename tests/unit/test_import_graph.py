"""The package's import graph is a DAG, between its parts (data, embed, features, ...) and
between its modules, counting imports inside functions too: a cycle is a layering mistake
even where Python happens to resolve it. Imports under `if TYPE_CHECKING:` (annotations only,
never executed) are not edges."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import aktrec
from conftest import REPO_ROOT

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


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts on the package copy under `root/src`."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", str(REPO_ROOT / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_hold_and_fail_on_a_planted_violation(tmp_path):
    """pyproject's import-linter contracts (the layers of docs/architecture.md, serving apart
    from the pipeline, no circle inside a part) on a copy of the package: kept as it is, broken
    by a data module that imports the predictor."""
    copy = tmp_path / "src" / "aktrec"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "datadocs_assets"))
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0 and "3 kept, 0 broken" in kept.stdout, kept.stdout[-2000:] + kept.stderr[-2000:]
    raw = copy / "data" / "raw.py"
    raw.write_text(raw.read_text() + "\nfrom aktrec.serving import predictor  # planted\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode == 1
    assert "aktrec.data.raw -> aktrec.serving.predictor" in broken.stdout
