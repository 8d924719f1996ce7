"""The package list, read from the folders, so a new component (components/<name>/component.py)
or module folder needs no line here: `aktrec` and its subpackages (folders with an __init__.py)
from src/, and every folder of those that pyproject.toml's package-dir installs inside it
(components, pipelines, manifests; namespace packages where there is no __init__.py). The rest
of the packaging is in pyproject.toml."""

from setuptools import find_namespace_packages, find_packages, setup

INSTALLED_INSIDE = {"aktrec.components": "components", "aktrec.pipelines": "pipelines", "aktrec.manifests": "manifests"}


def packages() -> list[str]:
    found = find_packages("src")
    for package, folder in INSTALLED_INSIDE.items():
        found += [
            package,
            *(f"{package}.{name}" for name in find_namespace_packages(folder, exclude=["*__pycache__*"])),
        ]
    return sorted(found)


if __name__ == "__main__":  # as setuptools' build backend runs it
    setup(packages=packages())
