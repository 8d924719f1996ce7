"""The image: build times (cold and with only code changed), sizes, the pipeline in containers
against in-process on the same data, and the predictor container's cold start to ready.

    python benchmarks/containers.py [--cold] [--users 600] [--workroot DIR] [--starts 3]

Run alone on the machine (two builds or two torch jobs on 2 cores slow each other). --cold
removes both images, the base image and podman's layer cache first, so the build is the first
one on a fresh machine (the base image from debootstrap included). The code-only build copies
the repository's tracked files, adds a comment to one source file and builds both targets under
other tags (removed afterwards): its dependency layers come from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from aktrec.pipeline import IMAGE, SPARK_IMAGE

REPO = Path(__file__).resolve().parents[1]

BASE_IMAGE = "localhost/aktrec-base:bookworm"


def podman(*args: str, check: bool = True) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check).stdout


def build(source: Path, image: str, spark_image: str) -> tuple[float, str]:
    """containers/build-image.sh in `source`: (seconds, its output)."""
    environment = {**os.environ, "IMAGE": image, "SPARK_IMAGE": spark_image, "BASE_IMAGE": BASE_IMAGE}
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "containers/build-image.sh"], cwd=source, env=environment, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed in {source}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - started, done.stdout + done.stderr


def size_gb(image: str) -> float:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image)) / 1e9


def code_only_build() -> tuple[float, int, int, list[str]]:
    """A build of the tracked tree with one comment added: (seconds, steps from the layer cache,
    steps, the instructions that ran again)."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "aktrec"
        files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
        for name in files.split():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tree / name)
        with open(tree / "src" / "aktrec" / "__init__.py", "a") as source:
            source.write("# a code-only change\n")
        tags = ("localhost/aktrec-bench:code-only", "localhost/aktrec-spark-bench:code-only")
        seconds, output = build(tree, *tags)
    podman("rmi", *tags)
    steps, cached, rebuilt = 0, 0, []
    lines = output.splitlines()
    for line, following in zip(lines, lines[1:] + [""]):
        if " STEP " not in line or ": FROM " in line:
            continue
        steps += 1
        if following.startswith("--> Using cache"):
            cached += 1
        else:
            rebuilt.append(" ".join(line.split(": ", 1)[1].split(" ")[:2]))  # e.g. "COPY src"
    return seconds, cached, steps, rebuilt


def pipeline_times(root: Path, users: int, online_store: str) -> tuple[float, float, Path]:
    """The same synthetic RAW through the pipeline in-process and in containers (no step cache),
    each deploying to `online_store`."""
    from aktrec.config import SynthConfig
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate
    from aktrec.pipeline.runner import run_local

    write_raw(generate(SynthConfig(n_users=users, n_items=users // 2, n_interactions=users * 25, seed=7)), root / "raw")
    times = {}
    for runner in ("subprocess", "docker"):
        started = time.monotonic()
        run_local(root / "raw", root / runner, cache=False, online_store=online_store, runner=runner)
        times[runner] = time.monotonic() - started
    local = json.loads((root / "subprocess" / "metrics.json").read_text())
    contained = json.loads((root / "docker" / "metrics.json").read_text())
    print(f"metrics equal: {local['models'] == contained['models']}")
    return times["subprocess"], times["docker"], root / "docker" / "deployment"


def cold_start(deployment: Path, scratch: Path) -> float:
    """`podman run` of the predictor on the release to its model's readiness, in seconds."""
    from aktrec.serving.local import free_port

    models = scratch / "models"
    shutil.rmtree(models, ignore_errors=True)
    shutil.copytree(deployment, models, symlinks=False)
    subprocess.run(["chmod", "-R", "a+rX", str(models)], check=True)
    port = free_port()
    name = f"aktrec-cold-start-{port}"
    started = time.monotonic()
    subprocess.run(
        [
            *("podman", "run", "--detach", "--rm", "--name", name, "--network=host", "--read-only"),
            *("--tmpfs", "/tmp:rw,exec", "--user", "10001:10001", "--volume", f"{models}:/mnt/models:ro"),
            IMAGE,
            *("serve", "--model", "/mnt/models/model", "--repo", "/mnt/models/feature_repo"),
            *("--http-port", str(port), "--grpc-port", "0"),
        ],
        check=True,
        capture_output=True,
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/aktrec/ready", timeout=1)
                return time.monotonic() - started
            except OSError:
                if time.monotonic() - started > 300:
                    raise SystemExit(f"not ready within 300 s:\n{podman('logs', name, check=False)}") from None
                time.sleep(0.1)
    finally:
        podman("stop", "--time", "30", name, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="remove the images and the layer cache first")
    parser.add_argument("--users", type=int, default=600, help="synthetic users of the pipeline runs")
    parser.add_argument("--starts", type=int, default=3, help="predictor cold starts to time")
    parser.add_argument("--workroot", type=Path, default=Path(tempfile.mkdtemp(prefix="aktrec-containers-")))
    args = parser.parse_args()
    os.environ.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))

    rows = []
    if args.cold:
        podman("rmi", "--all", "--force", check=False)
        podman("system", "prune", "--all", "--force", check=False)
    seconds, _ = build(REPO, IMAGE, SPARK_IMAGE)
    rows.append(("build, both targets" + (" (cold, base image included)" if args.cold else ""), f"{seconds:.0f} s"))
    seconds, cached, steps, rebuilt = code_only_build()
    again = ", ".join(dict.fromkeys(rebuilt))
    rows.append(
        ("build, both targets, only code changed", f"{seconds:.0f} s ({cached} of {steps} steps cached; ran: {again})")
    )
    for image in (BASE_IMAGE, IMAGE, SPARK_IMAGE):
        rows.append((f"size of {image}", f"{size_gb(image):.2f} GB"))

    from aktrec.serving.local import free_port

    socket_path, redis_port = args.workroot / "podman.sock", free_port()
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket_path}"])
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    os.environ["DOCKER_HOST"] = f"unix://{socket_path}"
    try:
        while not socket_path.exists():
            time.sleep(0.2)
        redis_url = f"redis://127.0.0.1:{redis_port}"
        in_process, contained, deployment = pipeline_times(args.workroot / "pipeline", args.users, redis_url)
        starts = sorted(cold_start(deployment, args.workroot) for _ in range(args.starts))
    finally:
        service.terminate()
        redis.terminate()
    rows.append((f"pipeline, {args.users} users, in-process (SubprocessRunner)", f"{in_process:.0f} s"))
    rows.append((f"pipeline, {args.users} users, in containers (DockerRunner)", f"{contained:.0f} s"))
    rows.append(
        (
            f"predictor container, `podman run` to ready ({args.starts} starts)",
            f"min {starts[0]:.1f} s, median {starts[len(starts) // 2]:.1f} s, max {starts[-1]:.1f} s",
        )
    )
    print("| what | measured |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")


if __name__ == "__main__":
    main()
