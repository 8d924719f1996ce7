"""The package stands alone: built as a wheel and installed into a fresh environment, it
compiles the pipeline and serves a bundle from an empty directory, with no checkout in sight."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import urllib.request

import pytest

from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the aktrec wheel; its dependencies come from this environment (a .pth
    line: an editable install here is not on that path, only the installed packages)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building in place would leave build/ in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for name in ("src", "components", "pipelines", "manifests"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip_wheel, "-w", str(root / "dist"), str(source)], check=True, timeout=300)
    [wheel] = (root / "dist").glob("aktrec-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (root / "venv" / site.split("/venv/", 1)[1] / "dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    empty = root / "empty"
    empty.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import aktrec; print(aktrec.__file__)"],
        cwd=empty,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(root / "venv") in where and str(REPO_ROOT) not in where
    return python, empty


def test_the_installed_package_compiles_the_pipeline(installed):
    python, empty = installed
    result = subprocess.run(
        [str(python), "-m", "aktrec", "pipeline", "compile", "--out", "pipeline.yaml"],
        cwd=empty,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (empty / "pipeline.yaml").read_text() == (REPO_ROOT / "pipelines" / "aktrec_pipeline.yaml").read_text()


def test_the_installed_package_renders_the_deployment_manifest(installed):
    python, empty = installed
    code = (
        "from aktrec.pipeline.deployment import inference_service_yaml; "
        "print(inference_service_yaml('s3://bucket/deploy/v1'))"
    )
    result = subprocess.run([str(python), "-c", code], cwd=empty, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "kind: InferenceService" in result.stdout and "s3://bucket/deploy/v1" in result.stdout


def test_the_installed_package_serves_a_bundle(installed, planted_model, planted_repo):
    from aktrec.serving.local import running_predictor

    python, empty = installed
    with running_predictor(planted_model, planted_repo, python=str(python), cwd=empty, lifetime_s=300) as url:
        body = json.dumps({"instances": [{"user_id": "nobody", "item_ids": ["i000001", "i000002"]}]}).encode()
        request = urllib.request.Request(
            f"{url}/v1/models/aktrec:predict", data=body, headers={"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
    assert len(answer["predictions"][0]) == 2
