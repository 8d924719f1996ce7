"""Stages launched by a pipeline step on Kubeflow's own operators: features as a Spark
Operator `SparkApplication`, training as a Kubeflow Trainer `TrainJob` (torchrun, DDP).

The step renders the resource from the stage's settings, creates it through the Kubernetes API
(in-cluster credentials, else the kubeconfig), waits for its final state and then copies the
stage's output into the step's own output artifact. The launched pods run `aktrec remote`: fetch
the inputs by URI, run the same `aktrec` command as in process, upload the output to its URI.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aktrec.config import ClusterJobConfig, SparkApplicationConfig, TrainJobConfig
from aktrec.errors import AktrecError
from aktrec.storage import download, filesystem, join_uri

log = logging.getLogger("aktrec")

# The image links `aktrec/__main__.py` (the `aktrec` command line) here: a SparkApplication runs a file.
SPARK_MAIN = "local:///opt/aktrec/aktrec_main.py"
CONFIG_PLACEHOLDER = "config"  # `{config}` in a remote command: a file holding the stage's settings
TRAINER_JOB = "trainer-node"  # the replicated job of the torch-distributed runtime that runs the trainer
POLL_SECONDS = float(os.environ.get("AKTREC_LAUNCH_POLL_SECONDS", "10"))


@dataclass(frozen=True)
class CustomResource:
    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


SPARK_APPLICATION = CustomResource("sparkoperator.k8s.io", "v1beta2", "sparkapplications", "SparkApplication")
TRAIN_JOB = CustomResource("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob")


def remote_arguments(command: list[str], inputs: dict[str, str], outputs: dict[str, str], config: str) -> list[str]:
    """The arguments of `aktrec remote` that run `command` (with `{name}` placeholders for the
    local copies of `inputs`, the local directories of `outputs` and `{config}`) on artifacts in
    object storage."""
    pairs = [arg for name, uri in inputs.items() for arg in ("--input", f"{name}={uri}")]
    pairs += [arg for name, uri in outputs.items() for arg in ("--output", f"{name}={uri}")]
    return ["remote", *pairs, "--config-text", config, "--", *command]


def _image(job: ClusterJobConfig) -> str:
    from aktrec.pipeline import IMAGE, SPARK_IMAGE

    return job.image or (SPARK_IMAGE if isinstance(job, SparkApplicationConfig) else IMAGE)


def spark_application(name: str, arguments: list[str], job: SparkApplicationConfig) -> dict[str, Any]:
    """A SparkApplication (Python, cluster mode) whose driver runs `aktrec <arguments>`."""
    pod = {"serviceAccount": job.service_account, "labels": {"app.kubernetes.io/part-of": "aktrec"}}
    # The driver manages its executors' pods through the API: it needs the account's token,
    # which the account does not mount by default (manifests/base/pipeline-rbac.yaml).
    driver_pod = {"spec": {"automountServiceAccountToken": True}}
    return {
        "apiVersion": SPARK_APPLICATION.api_version,
        "kind": SPARK_APPLICATION.kind,
        "metadata": {"name": name, "namespace": job.namespace},
        "spec": {
            "type": "Python",
            "pythonVersion": "3",
            "mode": "cluster",
            "image": _image(job),
            "imagePullPolicy": "IfNotPresent",
            "mainApplicationFile": SPARK_MAIN,
            "arguments": arguments,
            "sparkVersion": job.spark_version,
            "sparkConf": {"spark.sql.shuffle.partitions": str(job.shuffle_partitions)},
            "restartPolicy": {"type": "Never"},
            "driver": {**pod, "cores": job.driver.cores, "memory": job.driver.memory, "template": driver_pod},
            "executor": {
                **pod,
                "instances": job.executor.instances,
                "cores": job.executor.cores,
                "memory": job.executor.memory,
            },
        },
    }


def train_job(name: str, arguments: list[str], job: TrainJobConfig) -> dict[str, Any]:
    """A TrainJob on the torch-distributed runtime: torchrun (which reads the runtime's PET_*
    settings: nodes, processes per node, rendezvous) runs `aktrec <arguments>` on every node."""
    return {
        "apiVersion": TRAIN_JOB.api_version,
        "kind": TRAIN_JOB.kind,
        "metadata": {"name": name, "namespace": job.namespace},
        "spec": {
            "runtimeRef": {"name": job.runtime, "kind": "ClusterTrainingRuntime", "apiGroup": TRAIN_JOB.group},
            "trainer": {
                "image": _image(job),
                "command": ["torchrun", "--no-python", "aktrec"],
                "args": arguments,
                "numNodes": job.nodes,
                "numProcPerNode": job.processes_per_node,
                "resourcesPerNode": {
                    "requests": {"cpu": job.resources_per_node.cpu, "memory": job.resources_per_node.memory},
                    "limits": {"cpu": job.resources_per_node.cpu, "memory": job.resources_per_node.memory},
                },
            },
            "podSpecOverrides": [
                {"targetJobs": [{"name": TRAINER_JOB}], "serviceAccountName": job.service_account},
            ],
        },
    }


def final_state(resource: CustomResource, status: dict[str, Any]) -> tuple[bool, str] | None:
    """(succeeded, message) once the resource has finished, None while it runs."""
    if resource is SPARK_APPLICATION:
        state = status.get("applicationState", {})
        if state.get("state") == "COMPLETED":
            return True, "completed"
        if state.get("state") in ("FAILED", "SUBMISSION_FAILED", "FAILING"):
            return False, state.get("errorMessage") or state["state"]
        return None
    for condition in status.get("conditions", []):
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return condition["type"] == "Complete", condition.get("message") or condition["type"]
    return None


def _custom_objects_api():
    """The API with the pod's service account in a cluster, else with $KUBECONFIG (read now:
    the client's own default is read once, at its import)."""
    from kubernetes import client, config

    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.CustomObjectsApi(client.ApiClient(configuration))
    except config.ConfigException:
        return client.CustomObjectsApi(config.new_client_from_config(config_file=os.environ.get("KUBECONFIG")))


def run_to_completion(resource: CustomResource, manifest: dict[str, Any], timeout_minutes: float) -> None:
    """Create the resource and wait for its final state; a failure or the timeout raises with
    the resource's name and message (the resource is left for `kubectl describe`)."""
    api = _custom_objects_api()
    metadata = manifest["metadata"]
    where = f"{resource.kind} {metadata['namespace']}/{metadata['name']}"
    api.create_namespaced_custom_object(
        resource.group, resource.version, metadata["namespace"], resource.plural, manifest
    )
    log.info("%s created; waiting for it to finish", where)
    deadline = time.monotonic() + 60 * timeout_minutes
    while time.monotonic() < deadline:
        current = api.get_namespaced_custom_object(
            resource.group, resource.version, metadata["namespace"], resource.plural, metadata["name"]
        )
        finished = final_state(resource, current.get("status") or {})
        if finished is not None:
            succeeded, message = finished
            if not succeeded:
                raise AktrecError(f"{where} failed: {message}")
            log.info("%s %s", where, message)
            return
        time.sleep(POLL_SECONDS)
    raise AktrecError(f"{where} did not finish within {timeout_minutes:g} minutes")


def launch(
    resource: CustomResource,
    job: SparkApplicationConfig | TrainJobConfig,
    command: list[str],
    inputs: dict[str, str],
    output: tuple[str, str, str],
    config: str,
) -> dict[str, Any]:
    """Run `aktrec <command>` as `resource` on the cluster; `output` = (placeholder, URI the job
    uploads to, the step's local output directory that receives it). Returns the output's
    metrics.json, as the stage run in process returns it."""
    name, uri, local = output
    arguments = remote_arguments(command, inputs, {name: uri}, config)
    job_name = f"aktrec-{name.replace('_', '-')}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    render = spark_application if resource is SPARK_APPLICATION else train_job
    run_to_completion(resource, render(job_name, arguments, job), job.timeout_minutes)
    fs, root = filesystem(uri)
    Path(local).mkdir(parents=True, exist_ok=True)
    download(fs, root, Path(local))
    return json.loads((Path(local) / "metrics.json").read_text())


def run_remote(
    inputs: dict[str, str],
    outputs: dict[str, str],
    config_text: str,
    command: list[str],
    run: Callable[[list[str]], int],
) -> int:
    """`aktrec remote`: fetch `inputs`, run `command` with their local paths through `run` (the
    command line's entry point), upload `outputs` (by the first process only, when torchrun
    starts several)."""
    with tempfile.TemporaryDirectory(prefix="aktrec-remote-") as scratch:
        local = {}
        for name, uri in inputs.items():
            fs, root = filesystem(uri)
            if not fs.exists(root):
                raise AktrecError(f"remote input {name}: nothing at {uri}")
            local[name] = str(Path(scratch) / "in" / name)
            download(fs, root, Path(local[name]))
        for name in outputs:
            local[name] = str(Path(scratch) / "out" / name)
        (Path(scratch) / "config.yaml").write_text(config_text)
        local[CONFIG_PLACEHOLDER] = str(Path(scratch) / "config.yaml")
        try:
            arguments = [argument.format(**local) for argument in command]
        except KeyError as missing:
            raise AktrecError(f"remote command: {missing} is neither an --input nor an --output") from None
        code = run(arguments)
        if code != 0 or os.environ.get("RANK", "0") != "0":
            return code
        for name, uri in outputs.items():
            fs, root = filesystem(uri)
            if fs.exists(root):
                fs.rm(root, recursive=True)
            fs.put(local[name] + "/", join_uri(root, ""), recursive=True)
        return 0
