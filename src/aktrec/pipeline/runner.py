"""`aktrec pipeline compile | run | submit`: the same pipeline as IR YAML, on the local KFP
runner, or on a Kubeflow cluster.

The components and the pipeline are the repository's `components/` and `pipelines/` folders
(one folder per component, as KFP projects keep them), installed inside the package as
`aktrec.components` and `aktrec.pipelines` (pyproject's `package-dir`), so an installed aktrec
needs no checkout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from aktrec.artifacts import read_marker
from aktrec.ctr.gate import gate_verdict
from aktrec.data.raw import RAW_KIND
from aktrec.errors import AktrecError
from aktrec.features.repo import REDIS_PASSWORD_ENV, RedisAddress, take_redis_credentials
from aktrec.pipeline.progress import RunLog, stage_tasks
from aktrec.pipeline.steps import FAILURE_ENV, IN_PROCESS_ENV, split_config
from aktrec.storage import fingerprint, is_remote, read_marker_at

log = logging.getLogger("aktrec")
PUBLISHED = ("data", "embeddings", "semantic_ids", "feature_repo", "model")
RUNNERS = ("subprocess", "docker")  # where the local run's tasks run: this environment, or the aktrec image
GPU_TASKS = ("embed-items", "embed-users", "train")  # the steps whose torch work a GPU speeds up


# The pipelines `aktrec pipeline compile --pipeline` writes (committed as pipelines/<name>_pipeline.yaml).
PIPELINES = ("aktrec", "monitor", "readout", "score")


def load_pipeline(name: str = "aktrec"):
    if name == "aktrec":
        from aktrec.pipelines.aktrec_pipeline import aktrec_pipeline

        return aktrec_pipeline
    from aktrec.pipelines import after_deployment

    if name not in PIPELINES:
        raise AktrecError(f"unknown pipeline {name!r}; pipelines: {', '.join(PIPELINES)}")
    return getattr(after_deployment, f"{name}_pipeline")


def compile_pipeline(out: Path, gpu_image: str = "", pipeline: str = "aktrec") -> Path:
    """KFP IR YAML of `pipeline` at `out`; with `gpu_image`, the training pipeline's variant
    whose GPU steps run on a GPU node."""
    import yaml
    from kfp import compiler

    if gpu_image and pipeline != "aktrec":
        raise AktrecError(f"--gpu-image applies to the training pipeline, not to {pipeline!r}")
    source = load_pipeline(pipeline)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.stem}.tmp.yaml")  # a failed compile leaves an earlier `out` whole
    compiler.Compiler().compile(source, str(staging))
    if gpu_image:  # the IR's first document is the pipeline; the next, its Kubernetes platform spec
        pipeline, *platform = yaml.safe_load_all(staging.read_text())
        staging.write_text(yaml.safe_dump_all([on_gpu(pipeline, gpu_image), *platform], sort_keys=False))
    os.replace(staging, out)
    return out


def on_gpu(spec: dict[str, Any], image: str) -> dict[str, Any]:
    """The compiled pipeline with each of GPU_TASKS asking for one NVIDIA GPU and running
    `image` (the CUDA build of the image: Dockerfile, TORCH_INDEX). Their `device: auto`
    settings then put the encoders and the CTR networks on it."""
    tasks = spec["root"]["dag"]["tasks"]
    for task in GPU_TASKS:
        label = spec["components"][tasks[task]["componentRef"]["name"]]["executorLabel"]
        container = spec["deploymentSpec"]["executors"][label]["container"]
        container["image"] = image
        # Both spellings, as kfp's own set_accelerator_type/limit writes them (old and new backends).
        container.setdefault("resources", {})["accelerator"] = {
            "count": "1",
            "resourceCount": "1",
            "resourceType": "nvidia.com/gpu",
            "type": "nvidia.com/gpu",
        }
    return spec


def config_arguments(config: Path | None) -> dict[str, str]:
    """Pipeline arguments `<stage>_config` from one overrides file (checked before any stage runs)."""
    if config is not None and not Path(config).is_file():
        raise AktrecError(f"pipeline config {config}: no such file")
    sections = split_config(Path(config).read_text() if config is not None else "")
    return {f"{name}_config": text for name, text in sections.items()}


def _publish(link: Path, target: Path) -> None:
    """WORK/<name> -> the run's artifact, replaced atomically (a symlink swap)."""
    temporary = link.with_name(f".{link.name}.new")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(target.resolve(), target_is_directory=target.is_dir())
    if link.exists() and not link.is_symlink():
        raise AktrecError(f"{link}: exists and is not a link to a pipeline artifact; refusing to replace it")
    os.replace(temporary, link)


def _replace_with_copy(destination: Path, source: Path) -> None:
    """`destination` becomes a copy of the folder `source` (a copy, so it can be moved away
    from the run's artifacts); the previous one is swapped out only once the copy is whole."""
    staging = destination.with_name(f".{destination.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    previous = destination.with_name(f".{destination.name}.old")
    shutil.rmtree(previous, ignore_errors=True)
    if destination.exists():
        destination.rename(previous)
    staging.rename(destination)
    shutil.rmtree(previous, ignore_errors=True)


def _recorded_failure(failure_file: Path, log_path: Path) -> AktrecError | None:
    """Why the run failed, where a step or a task container recorded it (TASK_ENTRYPOINT)."""
    if not failure_file.is_file():
        return None
    failure = json.loads(failure_file.read_text())
    return AktrecError(f"pipeline stopped at step {failure['step']}: {failure['error']} (task logs: {log_path})")


def _forget_cached_since(cache_root: Path, since: float) -> None:
    """A failed run leaves no cache entries of its own (kfp caches a task it took for a success)."""
    for entry in cache_root.glob("*.json"):
        if entry.stat().st_mtime >= since:
            entry.unlink(missing_ok=True)


def run_local(
    raw: str | Path,
    workdir: Path,
    config: Path | None = None,
    cache: bool = True,
    storage_uri: str = "",
    online_store: str = "",
    canary_percent: int = 0,
    representation_cache: str = "",
    runner: str = "subprocess",
) -> dict[str, Any]:
    """Run the whole pipeline on kfp.local with WORK/runs as pipeline root: `runner` "subprocess"
    (this environment, no venv per task) or "docker" (each task in the aktrec image,
    `aktrec.pipeline.containers`). RAW is a local directory or an object-storage URL
    (s3://...), imported into the run as an artifact. On success WORK/<artifact> links point at
    this run's artifacts, with WORK/metrics.json and WORK/reports/index.html; on failure nothing
    published earlier changes and the error names the failed step and check. `storage_uri`,
    `online_store` and `canary_percent` go to the deploy step (publish the release, fill the
    online store, roll it out as a canary), `representation_cache` to the embedding steps."""
    from kfp import local

    online_store = take_redis_credentials(online_store)  # the steps read them from the environment
    if is_remote(str(raw)):
        read_marker_at(str(raw), RAW_KIND)
        raw_uri = str(raw)
    else:
        read_marker(Path(raw), RAW_KIND)
        raw_uri = str(Path(raw).absolute())
    if runner not in RUNNERS:
        raise AktrecError(f"runner {runner!r}: expected one of {', '.join(RUNNERS)}")
    arguments = config_arguments(config)
    pipeline = load_pipeline()
    workdir = Path(workdir).absolute()
    (workdir / "runs").mkdir(parents=True, exist_ok=True)
    failure_file = workdir / "runs" / "last_failure.json"
    failure_file.unlink(missing_ok=True)
    cache_root = workdir / "runs" / ".kfp_cache"
    task_environment = {FAILURE_ENV: str(failure_file), IN_PROCESS_ENV: "1"}
    os.environ.update(task_environment)
    if runner == "docker":
        from aktrec.pipeline import IMAGE
        from aktrec.pipeline.containers import check_image, docker_runner, local_directories

        check_image(IMAGE)
        task_runner = docker_runner(local_directories(raw_uri, storage_uri, representation_cache), task_environment)
    else:
        task_runner = local.SubprocessRunner(use_venv=False)
    local.init(
        runner=task_runner,
        pipeline_root=str(workdir / "runs"),
        enable_caching=cache,
        cache_root=str(cache_root),
        raise_on_error=True,
    )
    started, run_started_at = time.perf_counter(), time.time()
    log_path = workdir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}.log"
    log.info("running the pipeline; the runner's and the tasks' logs: %s", log_path)
    try:
        with warnings.catch_warnings(), open(log_path, "w") as log_file:
            # kfp warns per task that the image is not used: by design here, this environment has its package
            warnings.filterwarnings("ignore", message=".*non-Python base image", category=RuntimeWarning)
            console = RunLog(log_file, sys.stdout, failure_file)
            with contextlib.redirect_stdout(console):
                run = pipeline(
                    raw_uri=raw_uri,
                    raw_fingerprint=fingerprint(raw_uri),
                    storage_uri=storage_uri,
                    online_store=online_store,
                    canary_percent=canary_percent,
                    representation_cache=representation_cache,
                    **arguments,
                )
    except Exception as exc:  # kfp raises RuntimeError naming the task; the step recorded why
        _forget_cached_since(cache_root, run_started_at)
        raise _recorded_failure(failure_file, log_path) or AktrecError(
            f"pipeline failed: {exc} (task logs: {log_path})"
        ) from None
    finally:
        for name in task_environment:
            os.environ.pop(name, None)
    # kfp's DockerRunner reads a container removed before its exit status was read as a success.
    if failure := _recorded_failure(failure_file, log_path):
        _forget_cached_since(cache_root, run_started_at)
        raise failure
    cached = [task for task in [*stage_tasks(), "report"] if task not in console.finished]
    if cached:
        print(f"  from the step cache (inputs unchanged): {', '.join(cached)}")
    outputs = {name: Path(run.outputs[name].path) for name in (*PUBLISHED, "run_reports", "run_metrics")}
    for name in PUBLISHED:
        _publish(workdir / name, outputs[name])
    deployment = outputs["model"].parent.parent / "deploy" / "deployment"  # inside dsl.If: not a pipeline output
    if deployment.is_dir():
        _publish(workdir / "deployment", deployment)
    elif (workdir / "deployment").is_symlink():  # this run's model was not promoted
        (workdir / "deployment").unlink()
    _replace_with_copy(workdir / "reports", outputs["run_reports"])
    shutil.copyfile(outputs["run_metrics"], workdir / "metrics.json")
    metrics = json.loads((workdir / "metrics.json").read_text())
    log.info(
        "pipeline finished in %.0fs; promotion gate %s",
        time.perf_counter() - started,
        gate_verdict(metrics["promotion"]),
    )
    return metrics


def _submitted_fingerprint(raw_uri: str) -> str:
    """RAW's fingerprint when this machine can read it; otherwise a value of its own, so the
    cluster's step cache cannot reuse results of other data at the same URI."""
    try:
        return fingerprint(raw_uri)
    except Exception as exc:  # no credentials or no route here: the cluster may still read it
        log.warning("cannot read %s from here (%s): the run's first steps will not be taken from cache", raw_uri, exc)
        return f"submitted-{time.time_ns()}"


def submit(
    host: str,
    raw_uri: str,
    config: Path | None,
    experiment: str,
    run_name: str | None,
    storage_uri: str,
    online_store: str,
    package: Path | None = None,
    canary_percent: int = 0,
    representation_cache: str = "",
) -> str:
    """Compile (or take `package`) and start a run on a Kubeflow Pipelines API at `host`.
    The bearer token, if the cluster needs one, comes from KFP_TOKEN."""
    import tempfile

    import kfp

    if online_store.startswith(("redis://", "rediss://")) and "${" not in online_store:
        address = RedisAddress.parse(online_store)
        if address.username or address.password:
            raise AktrecError(
                f"online store {address.uri}: credentials in the URI would become a run parameter anyone"
                f" reading the run sees; the deploy step reads ${REDIS_PASSWORD_ENV} from the aktrec-redis Secret"
            )
    arguments = config_arguments(config)
    with tempfile.TemporaryDirectory() as scratch:
        package_path = package or compile_pipeline(Path(scratch) / "aktrec_pipeline.yaml")
        client = kfp.Client(host=host, existing_token=os.environ.get("KFP_TOKEN") or None)
        result = client.create_run_from_pipeline_package(
            str(package_path),
            arguments={
                "raw_uri": raw_uri,
                "raw_fingerprint": _submitted_fingerprint(raw_uri),
                "storage_uri": storage_uri,
                "online_store": online_store,
                "canary_percent": canary_percent,
                "representation_cache": representation_cache,
                **arguments,
            },
            run_name=run_name or f"aktrec-{time.strftime('%Y%m%d-%H%M%S')}",
            experiment_name=experiment,
        )
    return result.run_id
