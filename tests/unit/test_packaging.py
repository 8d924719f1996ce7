"""Every package of the source tree is in the wheel: setup.py lists the packages from the folders
(the components, pipelines and manifests folders are mapped into `aktrec`), and a package left
out of that list installs without it (the image then fails at import)."""

from __future__ import annotations

import os
import runpy
import tomllib

from conftest import REPO_ROOT


def test_setup_lists_every_package_of_the_source_tree():
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
    here = os.getcwd()
    os.chdir(REPO_ROOT)  # setup.py reads the folders from the repository's root, as the build does
    try:
        listed = set(runpy.run_path(str(REPO_ROOT / "setup.py"))["packages"]())
    finally:
        os.chdir(here)
    assert found - listed == set(), f"setup.py's packages() leaves out {sorted(found - listed)}"
