"""Shared fixtures: tiny data sets made by the tests themselves."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aktrec.features import names as feature_names
from aktrec.features.contract import declared_contract

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


# Each offline feature table's key: its join keys and event time (engine parity tests).
JOIN_KEYS = {view.name: [*view.join_keys, feature_names.EVENT_TIMESTAMP] for view in declared_contract("v1")}
TIERS = ("unit", "component", "integration", "container")
BUCKET = "aktrec-rehearsal"  # the object store's bucket of the rehearsals (object_store)


def copy_package(root: Path) -> Path:
    """A copy of the package under `root/src/aktrec`, with the folders installed inside it
    (components, pipelines, manifests), to change as a developer would; `run_on_copy` runs it."""
    package = root / "src" / "aktrec"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "src" / "aktrec", package, ignore=ignore)
    for folder in ("components", "pipelines", "manifests"):
        shutil.copytree(REPO_ROOT / folder, package / folder, ignore=ignore)
    return package


def run_on_copy(root: Path, script: str, *arguments: str) -> dict:
    """`script` run on `copy_package(root)`'s package; what it printed last, read as JSON."""
    path = root / "on_the_copy.py"  # a file: under `python -c`, pyspark's import exits 0 at once
    path.write_text(script)
    run = subprocess.run(
        [sys.executable, str(path), *arguments],
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(root / "src" / "aktrec")), report["package"]
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's tier is its folder under tests/; it carries that marker (`pytest -m unit`)."""
    for item in items:
        tier = item.path.relative_to(Path(__file__).parent).parts[0]
        if tier in TIERS:
            item.add_marker(tier)


# A v2 gRPC client (tritonclient) run as its own process: its protos and KServe's share one package
# name. Arguments: ADDRESS USER ITEMS_JSON LIMIT; prints readiness, metadata, scores and the errors
# of three bad requests as JSON.
GRPC_CLIENT = """
import json, sys
import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

address, user, items, limit = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
client = triton.InferenceServerClient(url=address)
out = {"ready": client.is_server_live() and client.is_model_ready("aktrec"),
       "inputs": [i.name for i in client.get_model_metadata("aktrec").inputs], "errors": []}

def infer(user_ids, item_ids):
    inputs = [triton.InferInput("user_id", [len(user_ids)], "BYTES"),
              triton.InferInput("item_ids", [len(item_ids)], "BYTES")]
    inputs[0].set_data_from_numpy(np.array(user_ids, dtype=object))
    inputs[1].set_data_from_numpy(np.array(item_ids, dtype=object))
    return client.infer("aktrec", inputs)

result = infer([user], items)
out["scores"] = result.as_numpy("scores").tolist()
out["unknown_items"] = result.as_numpy("unknown_items").tolist()
out["unknown_user"] = result.as_numpy("unknown_user").tolist()
for user_ids, item_ids in (([user], [f"i{n}" for n in range(limit + 1)]), ([user, user], items), ([user], [""])):
    try:
        infer(user_ids, item_ids)
        out["errors"].append(None)
    except InferenceServerException as error:
        out["errors"].append([error.status(), error.message()])
print(json.dumps(out))
"""


def assert_same_table(name: str, pandas_rows: pd.DataFrame, spark_rows: pd.DataFrame) -> None:
    """Same columns, the same rows (in key and time order) and values: keys and lists exactly,
    numbers to 1e-9 (Spark sums in another order)."""
    assert list(spark_rows.columns) == list(pandas_rows.columns), name
    keys = JOIN_KEYS[name]
    left = pandas_rows.sort_values(keys).reset_index(drop=True)
    right = spark_rows.sort_values(keys).reset_index(drop=True)
    assert len(left) == len(right), name
    for column in left.columns:
        if column in keys:
            assert left[column].equals(right[column]), f"{name}.{column}"
        elif left[column].dtype == object:
            assert all(np.array_equal(p, q) for p, q in zip(left[column], right[column])), f"{name}.{column}"
        else:
            assert np.allclose(left[column], right[column], rtol=1e-9, atol=1e-9), f"{name}.{column}"


def render_offline(page: Path) -> str:
    """The DOM of a local page after its scripts ran, in headless Chromium with the network
    off (every host name unresolvable, every request sent to a dead proxy)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed; `make test` installs it (scripts/system-packages.sh)")
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@contextlib.contextmanager
def running_redis(port: int | None = None, password: str | None = None) -> Iterator[str]:
    """A throwaway `redis-server` on 127.0.0.1 (a free port unless given; no persistence; with
    `password`, `requirepass`); yields its URL (without the password)."""
    from aktrec.serving.local import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; `make test` installs it (scripts/system-packages.sh)")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + (["--requirepass", password] if password else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def object_store():
    """moto's S3 server on a free loopback port with the bucket BUCKET, and the environment every
    process reads (containers too: aktrec.pipeline.containers forwards it)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets in this process from one server to the next: start from none.
    urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"))
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }.items():
            env.setenv(name, value)
        import fsspec

        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir(BUCKET)
        yield fs
    server.stop()


@pytest.fixture
def redis_server():
    with running_redis() as url:
        yield url


@pytest.fixture(scope="session")
def tiny_synth_config():
    from aktrec.config import SynthConfig

    return SynthConfig(n_users=120, n_items=80, n_interactions=3_000, n_days=10, seed=7)


@pytest.fixture(scope="session")
def tiny_raw(tiny_synth_config):
    from aktrec.data.synth import generate

    return generate(tiny_synth_config)


# The tiny set's 120 users: with today's package versions the largest user cluster holds 51% of
# them, over the 50% gate meant for real catalogs; the gate is open so a run always publishes.
LENIENT_PIPELINE_CONFIG = (
    "train:\n  promotion: {min_total_auc: 0.0, min_tail_auc: 0.0, max_head_auc_drop: 1.0}\n  loop: {epochs: 2}\n"
    "semantic_ids: {max_cluster_share: 0.6}\n"
)


@pytest.fixture(scope="session")
def tiny_raw_dir(tmp_path_factory, tiny_raw) -> Path:
    """`tiny_raw` written as a RAW directory, with `lenient.yaml` (LENIENT_PIPELINE_CONFIG) beside it."""
    from aktrec.data.raw import write_raw

    root = tmp_path_factory.mktemp("tiny-pipeline")
    write_raw(tiny_raw, root / "raw")
    (root / "lenient.yaml").write_text(LENIENT_PIPELINE_CONFIG)
    return root / "raw"


@pytest.fixture(scope="session")
def tiny_pipeline_run(tiny_raw_dir) -> Path:
    """The work directory of one in-process `aktrec pipeline run` of `tiny_raw_dir` with the
    lenient config: the pipeline tests read it, and the image's tests compare their run with it
    (one run for both: a tiny pipeline run costs over a minute)."""
    work = tiny_raw_dir.parent / "work"
    config = tiny_raw_dir.parent / "lenient.yaml"
    assert run_aktrec("pipeline", "run", "--raw", tiny_raw_dir, "--workdir", work, "--config", config) == 0
    return work


def make_tables(
    tmp_path: Path, n_users: int = 30, n_items: int = 20, n_rows: int = 600, seed: int = 3
) -> dict[str, Path]:
    """A data set the importers have never seen: CSV files with user attributes, real
    negatives and ISO timestamps, in the contract's format."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame(
        {
            "user_id": [f"cust-{i}" for i in range(n_users)],
            "age": rng.integers(18, 70, n_users),
            "plan": rng.choice(["free", "pro"], n_users),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": [f"sku{i:03d}" for i in range(n_items)],
            "title": [f"Product {i}" for i in range(n_items)],
            "category": rng.choice(["Home > Kitchen", "Home > Garden", "Toys"], n_items),
            "price": rng.uniform(1, 50, n_items).round(2),
        }
    )
    ts = pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 14 * 86_400, n_rows), unit="s")
    interactions = pd.DataFrame(
        {
            "user_id": rng.choice(users["user_id"], n_rows),
            "item_id": rng.choice(items["item_id"], n_rows),
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "label": rng.integers(0, 2, n_rows),
        }
    )
    paths = {}
    for name, frame in (("interactions", interactions), ("items", items), ("users", users)):
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


@pytest.fixture
def tables(tmp_path) -> dict[str, Path]:
    return make_tables(tmp_path)


def write_amazon_format(tmp_path: Path) -> tuple[Path, Path]:
    """Tiny files in the shared Amazon format (sequences + RecBole item table)."""
    sequences = tmp_path / "user_sequence.txt"
    sequences.write_text("A1 I1 I2 I3\nA2 I2 I3\nA3 I1 I4 I2 I5\nA4 I5 I1\n")
    items = tmp_path / "Amazon.item"
    items.write_text(
        "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token\n"
        "I1\tRose Lotion\tBeauty\t10.0\t'Beauty', 'Skin Care'\t5.5\tAcme\n"
        'I2\t"Two-line\ntitle"\tBeauty\t\t"\'Beauty\', ""Women\'s"", \'Fragrance\'"\t\t\n'
        "I3\tLip Gloss\tBeauty\t3.0\t'Beauty', 'Makeup'\t7\tGlow\n"
        "I4\t\tBeauty\t4.0\t'Beauty', 'Makeup'\t8\tGlow\n"
        "I5\tShampoo\tBeauty\t5.0\t'Beauty', 'Hair Care'\t9.99\t\n"
    )
    return sequences, items


def _bundled_tokenizer():
    from transformers import AutoTokenizer

    from aktrec.embed.encoder import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2"), local_files_only=True)


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with the bundled tokenizer, saved offline."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _bundled_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_vision_text_model(tmp_path_factory) -> Path:
    """A randomly initialised CLIP-style vision-text dual encoder (32x32 images), saved offline."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    path = tmp_path_factory.mktemp("tiny-clip")
    tokenizer = _bundled_tokenizer()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 128,
            "eos_token_id": tokenizer.sep_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def run_aktrec(*arguments) -> int:
    """The `aktrec` command line in this process, its arguments paths, numbers or text."""
    from aktrec.cli import main

    return main([str(argument) for argument in arguments])


def materialize(root: Path, repo: Path) -> int:
    """`aktrec features materialize` of a `build_planted` root's DATA and SID into `repo`."""
    return run_aktrec("features", "materialize", "--data", root / "data", "--sids", root / "sid", "--repo", repo)


def build_planted(root: Path, raw, test_days: int = 2, codebook_size: int = 16, noise: float = 0.2) -> Path:
    """`build_planted_set` with a time split of `test_days` at `root` (root/data, root/emb, root/sid)."""
    from aktrec.config import SplitConfig
    from aktrec.semantic_ids.planted import build_planted_set

    build_planted_set(root, raw, SplitConfig(test_days=test_days), codebook_size, noise=noise)
    return root


@pytest.fixture(scope="session")
def planted_emb(tmp_path_factory, tiny_raw):
    """`build_planted` on the tiny synthetic set."""
    return build_planted(tmp_path_factory.mktemp("sid"), tiny_raw)


@pytest.fixture(scope="session")
def planted_repo(planted_emb):
    """The Feast repository materialized from `planted_emb` (root/repo)."""
    assert materialize(planted_emb, planted_emb / "repo") == 0
    return planted_emb / "repo"


@pytest.fixture(scope="session")
def planted_model(planted_emb, planted_repo):
    """A bundle trained on `planted_repo` (root/model): base, AKT-Rec and the FAERec peer."""
    out = planted_emb / "model"
    variants = "base,strong_base,aktrec,faerec"
    # --deploy aktrec: the serving tests read AKT-Rec's gates
    arguments = ("--variants", variants, "--deploy", "aktrec", "--epochs", 2)
    assert run_aktrec("train", "--data", planted_emb / "data", "--repo", planted_repo, "--out", out, *arguments) == 0
    return out
