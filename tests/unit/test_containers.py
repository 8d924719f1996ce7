"""The container parts that run without podman: the image's dependency list and the task
containers' entrypoint."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tomllib

import pytest

from conftest import REPO_ROOT


def _image_requirements():
    spec = importlib.util.spec_from_file_location(
        "image_requirements", REPO_ROOT / "containers" / "image_requirements.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.requirements


def test_the_image_installs_every_dependency_of_aktrec_all_and_not_aktrec_itself():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    listed = _image_requirements()(pyproject, ["all"])
    extras = pyproject["project"]["optional-dependencies"]
    expected = set(pyproject["project"]["dependencies"])
    for extra in ("pipeline", "features", "serving", "models"):
        expected |= set(extras[extra])
    assert set(listed) == expected and not any(line.startswith("aktrec") for line in listed)
    assert not set(extras["dev"]) & set(listed)  # test tools stay out of the image
    with pytest.raises(SystemExit, match="no extra 'gpu'"):
        _image_requirements()(pyproject, ["gpu"])


def _task_environment(failure_file) -> dict[str, str]:
    return {"AKTREC_FAILURE_FILE": str(failure_file), "PATH": "/usr/bin:/bin"}


@pytest.mark.parametrize(("command", "code"), [(["true"], 0), (["sh", "-c", "exit 3"], 3)])
def test_a_task_container_records_its_failure_for_the_runner(tmp_path, command, code):
    from aktrec.pipeline.containers import TASK_ENTRYPOINT

    failure = tmp_path / "last_failure.json"
    arguments = [*command, "--executor_input", "{}", "--function_to_execute", "embed_items"]
    done = subprocess.run(
        [*TASK_ENTRYPOINT, *arguments], env={"AKTREC_FAILURE_FILE": str(failure), "PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == code
    if code == 0:
        assert not failure.exists()
    else:
        recorded = json.loads(failure.read_text())
        assert recorded["step"] == "embed_items" and "exited with code 3" in recorded["error"]


def test_a_task_after_a_recorded_failure_does_not_run_and_the_first_failure_stays(tmp_path):
    from aktrec.pipeline.containers import TASK_ENTRYPOINT

    failure = tmp_path / "last_failure.json"
    failure.write_text(json.dumps({"step": "validate_raw", "error": "validation of raw failed"}))
    ran = tmp_path / "ran"
    done = subprocess.run(
        [*TASK_ENTRYPOINT, "touch", str(ran)], env=_task_environment(failure), capture_output=True, text=True
    )
    assert done.returncode == 1 and not ran.exists() and done.stdout.startswith("aktrec-task: not run")
    assert json.loads(failure.read_text())["error"] == "validation of raw failed"
