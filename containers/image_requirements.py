"""Print the requirements of `aktrec[EXTRAS]` from pyproject.toml, one per line, without aktrec itself.

The image installs these in a layer of their own, before the package's code is copied in, so a
build with only code changed reuses that layer."""

import sys
import tomllib
from pathlib import Path


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    project = pyproject["project"]
    name = project["name"]
    optional = project.get("optional-dependencies", {})
    found, pending, seen = list(project["dependencies"]), list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"image_requirements: no extra {extra!r} in pyproject.toml")
        seen.add(extra)
        for requirement in optional[extra]:
            if requirement.startswith(f"{name}["):  # a self-reference: aktrec[pipeline,features]
                pending.extend(part.strip() for part in requirement[len(name) + 1 : -1].split(","))
            else:
                found.append(requirement)
    return sorted(set(found), key=found.index)


if __name__ == "__main__":
    pyproject_path, *extras = sys.argv[1:]
    print("\n".join(requirements(tomllib.loads(Path(pyproject_path).read_text()), extras)))
