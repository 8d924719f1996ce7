"""Every package of the source tree is in the wheel: pyproject lists its packages one by one
(the components, pipelines and manifests folders are mapped into `aktrec`), and a package left
out of that list installs without it (the image then fails at import)."""

from __future__ import annotations

import tomllib

from conftest import REPO_ROOT


def test_pyproject_lists_every_package_of_the_source_tree():
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    roots = {"aktrec": REPO_ROOT / "src" / "aktrec"}
    roots |= {package: REPO_ROOT / folder for package, folder in setuptools["package-dir"].items() if package}
    found = set()
    for package, folder in roots.items():
        for directory in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            if "__pycache__" in directory.parts or "datadocs_assets" in directory.parts:
                continue
            if any(directory.glob("*.py")) or any(directory.glob("*.yaml")):
                found.add(".".join([package, *directory.relative_to(folder).parts]))
    listed = set(setuptools["packages"])
    assert found - listed == set(), f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
    assert listed - found == set(), f"listed but not in the tree: {sorted(listed - found)}"
