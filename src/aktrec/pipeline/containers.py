"""The local runner's container mode (`aktrec pipeline run --runner docker`): every task in the
aktrec image through kfp.local's DockerRunner, over a Docker API (Docker's, or podman's
`podman system service`; DOCKER_HOST names it).

A task container sees what a cluster pod sees: the pipeline root (mounted by the runner), the
local inputs the run names (RAW, the representation cache, a release directory), the host's
network (object storage and Redis on 127.0.0.1), a read-only root file system with /tmp
writable, and the environment variables of object storage and the online store's credentials.
It runs as the invoking user, so what the tasks write in the work directory is that user's.
"""

from __future__ import annotations

import os
from pathlib import Path

from aktrec.errors import AktrecError
from aktrec.features.repo import REDIS_PASSWORD_ENV, REDIS_USERNAME_ENV

# Passed to every task when set: object storage (s3fs/boto), the online store's credentials, and
# the caller's thread limit (torch's and LightGBM's float sums depend on the thread count, so a
# task computes in its container what it computes in process).
FORWARDED_ENV = (
    "OMP_NUM_THREADS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    REDIS_PASSWORD_ENV,
    REDIS_USERNAME_ENV,
)
# Every task container's entrypoint (the image's own is `aktrec`, for the predictor): runs kfp's
# command and, when it fails, records the exit status in $AKTREC_FAILURE_FILE unless the step
# recorded why. kfp's DockerRunner reads a container that was removed before its status was read
# as a success and goes on, so the status reaches the runner (and its console, RunLog) this way,
# and a task after a recorded failure does not run.
TASK_ENTRYPOINT = [
    "/bin/sh",
    "-c",
    # A container gone before the runner attached to its log leaves podman's log stream open
    # (kfp waits forever): a task that is not run lives a second before it exits.
    'if [ -s "$AKTREC_FAILURE_FILE" ]; then echo "aktrec-task: not run, an earlier task failed"; sleep 1; exit 1; fi; '
    'step=task; previous=""; for argument in "$@"; do '
    '[ "$previous" = --function_to_execute ] && step="$argument"; previous="$argument"; done; '
    '"$@"; code=$?; '
    'if [ "$code" -ne 0 ]; then echo "aktrec-task: the task failed (exit code $code)"; '
    'if [ ! -s "$AKTREC_FAILURE_FILE" ]; then '
    'printf \'{"step": "%s", "error": "its container exited with code %s (the task log says why)"}\' '
    '"$step" "$code" > "$AKTREC_FAILURE_FILE"; fi; fi; exit "$code"',
    "aktrec-task",
]
PODMAN_SOCKET_HELP = (
    "start podman's: `podman system service --time=0 unix:///run/podman/podman.sock &` "
    "and set DOCKER_HOST=unix:///run/podman/podman.sock"
)


def docker_client():
    """A client of the Docker API that DOCKER_HOST names (Docker's default socket without it)."""
    import docker

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # the SDK raises DockerException, requests' or a socket's error
        raise AktrecError(f"no Docker API answers at {host} ({type(error).__name__}); {PODMAN_SOCKET_HELP}") from None
    return client


def check_image(image: str) -> None:
    """The tasks' image must be on this machine: kfp would try to pull it from its registry."""
    import docker

    client = docker_client()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise AktrecError(f"the image {image} is not on this machine; build it with `make image`") from None
    finally:
        client.close()


def docker_runner(local_paths: list[str], environment: dict[str, str]):
    """kfp.local's DockerRunner for the run: `local_paths` (absolute directories the tasks read or
    write, besides the pipeline root) bind-mounted at the same paths, `environment` plus the
    forwarded variables set in every task."""
    from docker.types import Mount
    from kfp import local

    mounts = [Mount(target=path, source=path, type="bind") for path in dict.fromkeys(local_paths)]
    forwarded = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    return local.DockerRunner(
        mounts=mounts,
        environment={**forwarded, **environment},
        entrypoint=TASK_ENTRYPOINT,
        network_mode="host",
        user=f"{os.getuid()}:{os.getgid()}",
        read_only=True,
        tmpfs={"/tmp": "rw,exec"},
    )


def local_directories(*uris: str) -> list[str]:
    """The absolute local directories among `uris` (a remote URI or an empty one is no mount);
    one that does not exist yet is created, so the task can write there."""
    from aktrec.storage import is_remote

    directories = []
    for uri in uris:
        if not uri or is_remote(uri):
            continue
        path = Path(uri).absolute()
        path.mkdir(parents=True, exist_ok=True)
        directories.append(str(path))
    return directories
