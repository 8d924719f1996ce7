"""The KServe predictor as a live server on 127.0.0.1: v1, v2 over HTTP and gRPC (also through
tritonclient), :explain, cold start, every bad-input case, health endpoints, concurrent load
(micro-batched), offline parity."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from conftest import GRPC_CLIENT

MAX_CANDIDATES = 50
LIFETIME_S = 900  # the server exits by itself even if this test process dies


@pytest.fixture(scope="module")
def grpc_port() -> int:
    from aktrec.serving.local import free_port

    return free_port()


@pytest.fixture(scope="module")
def server(planted_model, planted_repo, tmp_path_factory, grpc_port):
    from aktrec.serving.local import running_predictor

    config = tmp_path_factory.mktemp("serve") / "serving.yaml"
    config.write_text(f"max_candidates: {MAX_CANDIDATES}\nmax_body_bytes: 65536\n")
    with running_predictor(
        planted_model, planted_repo, ["--config", str(config)], lifetime_s=LIFETIME_S, grpc_port=grpc_port
    ) as url:
        yield url


def post(url: str, body, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def pairs(planted_emb, planted_model):
    """The most active user and twelve items, all with trained embeddings (the model's vocabulary)."""
    from aktrec.ctr.bundle import load_bundle
    from aktrec.data.prepare import read_prepared

    data = read_prepared(planted_emb / "data")
    known = set(load_bundle(planted_model).vocab.item.ids)
    user = data.train[schemas.USER_ID].value_counts().index[0]
    items = [item for item in data.train[schemas.ITEM_ID].drop_duplicates() if item in known][:12]
    return user, items


def test_v1_scores_equal_offline_predictions_in_order(server, pairs, planted_model, planted_repo):
    from aktrec.ctr.bundle import load_bundle
    from aktrec.features.retrieval import historical_features

    user, items = pairs
    status, body = post(f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": items}]})
    assert status == 200, body
    assert len(body["predictions"]) == 1 and len(body["predictions"][0]) == len(items)
    assert body["unknown"] == [{"user": False, "item_ids": []}]
    bundle = load_bundle(planted_model)
    later = pd.DataFrame(
        {
            schemas.ROW_ID: np.arange(len(items)),
            schemas.USER_ID: user,
            schemas.ITEM_ID: items,
            schemas.TS: pd.Timestamp.now(tz="UTC"),
        }
    )
    offline = bundle.predict(
        historical_features(planted_repo, later, bundle.semantic_tables("user"), bundle.semantic_tables("item"))
    )
    np.testing.assert_allclose(body["predictions"][0], offline, atol=1e-5)
    status, reversed_body = post(
        f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": items[::-1]}]}
    )
    np.testing.assert_allclose(reversed_body["predictions"][0], body["predictions"][0][::-1], atol=1e-6)


def test_v2_json_and_tritonclient_agree_with_v1(server, pairs):
    import tritonclient.http as triton

    user, items = pairs
    _, v1 = post(f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": items}]})
    status, v2 = post(
        f"{server}/v2/models/aktrec/infer",
        {
            "inputs": [
                {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [user]},
                {"name": "item_ids", "shape": [len(items)], "datatype": "BYTES", "data": items},
            ]
        },
    )
    assert status == 200, v2
    outputs = {o["name"]: o for o in v2["outputs"]}
    np.testing.assert_allclose(outputs["scores"]["data"], v1["predictions"][0], atol=1e-6)
    assert outputs["scores"]["datatype"] == "FP32" and outputs["unknown_user"]["data"] == [False]

    client = triton.InferenceServerClient(url=server.removeprefix("http://"))
    assert client.is_server_ready() and client.is_model_ready("aktrec")
    metadata = client.get_model_metadata("aktrec")
    assert [i["name"] for i in metadata["inputs"]] == ["user_id", "item_ids", "item_titles"]
    inputs = [triton.InferInput("user_id", [1], "BYTES"), triton.InferInput("item_ids", [len(items)], "BYTES")]
    inputs[0].set_data_from_numpy(np.array([user], dtype=object))
    inputs[1].set_data_from_numpy(np.array(items, dtype=object))
    result = client.infer(
        "aktrec",
        inputs,
        outputs=[
            triton.InferRequestedOutput("scores", binary_data=False),
            triton.InferRequestedOutput("unknown_items", binary_data=False),
        ],
    )
    np.testing.assert_allclose(result.as_numpy("scores"), v1["predictions"][0], atol=1e-6)
    assert not result.as_numpy("unknown_items").any()


def test_grpc_v2_agrees_with_http_and_maps_errors_like_it(server, grpc_port, pairs):
    # Triton's gRPC client in a process of its own: its protos and KServe's share one package name.
    user, items = pairs
    _, v1 = post(f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": items}]})
    answer = subprocess.run(
        [sys.executable, "-c", GRPC_CLIENT, f"127.0.0.1:{grpc_port}", user, json.dumps(items), str(MAX_CANDIDATES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    out = json.loads(answer.stdout)
    assert out["ready"] and out["inputs"] == ["user_id", "item_ids", "item_titles"]
    np.testing.assert_allclose(out["scores"], v1["predictions"][0], atol=1e-6)
    assert not any(out["unknown_items"]) and out["unknown_user"] == [False]
    for (status, message), expected in zip(out["errors"], ("more than the limit", "user_id", "item_ids")):
        assert status == "StatusCode.INVALID_ARGUMENT" and expected in message, message


def test_explain_says_how_much_of_each_score_came_from_cluster_knowledge(server, pairs, planted_model):
    from aktrec.ctr.bundle import load_bundle

    user, items = pairs
    request = {
        "instances": [
            {
                "user_id": user,
                "item_ids": [*items[:3], "brand-new"],
                "items": [{"item_id": "brand-new", "title": "Rose water toner"}],
            },
            {"user_id": "never-seen-user", "item_ids": items[:2]},
        ]
    }
    _, predicted = post(f"{server}/v1/models/aktrec:predict", request)
    status, body = post(f"{server}/v1/models/aktrec:explain", request)
    assert status == 200, body
    known, cold = body["explanations"]
    assert [e["item_id"] for e in known] == [*items[:3], "brand-new"] and len(cold) == 2
    np.testing.assert_allclose([e["score"] for e in known], predicted["predictions"][0], atol=1e-6)
    for entry in known + cold:
        for gate in ("user_cluster_share", "item_cluster_share", "cluster_level_share"):
            assert 0.0 <= entry[gate] <= 1.0, entry
    assert [e["unknown_item"] for e in known] == [False, False, False, True]
    # An id the model never saw is served from cluster knowledge alone (r = 1); this bundle has no
    # content encoder to place a described item, so its cluster is unknown (-1).
    assert known[3]["item_cluster_share"] == 1.0 and known[3]["item_cluster"] == -1
    items_table = load_bundle(planted_model).semantic_tables("item")
    expected = items_table.cluster[items_table.ids.get_indexer(items[:3])].tolist()
    assert [e["item_cluster"] for e in known[:3]] == expected
    assert all(e["unknown_user"] and e["user_cluster_share"] == 1.0 and e["user_cluster"] == -1 for e in cold)
    assert not known[0]["unknown_user"] and known[0]["user_cluster"] >= 0
    assert post(f"{server}/v1/models/aktrec:explain", {"instances": [{"user_id": user}]})[0] == 400


def test_unknown_user_and_items_are_scored_from_cluster_knowledge_and_flagged(server, pairs):
    user, items = pairs
    body = {
        "instances": [
            {"user_id": "never-seen-user", "item_ids": items[:3]},
            {
                "user_id": user,
                "item_ids": [items[0], "brand-new-1", "brand-new-2"],
                "items": [{"item_id": "brand-new-1", "title": "Hydrating rose face cream", "category": "Beauty"}],
            },
        ]
    }
    status, response = post(f"{server}/v1/models/aktrec:predict", body)
    assert status == 200, response
    assert response["unknown"][0] == {"user": True, "item_ids": []}
    assert response["unknown"][1] == {"user": False, "item_ids": ["brand-new-1", "brand-new-2"]}
    for scores in response["predictions"]:
        assert all(0.0 < s < 1.0 for s in scores)
    status, v2 = post(
        f"{server}/v2/models/aktrec/infer",
        {
            "inputs": [
                {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [user]},
                {"name": "item_ids", "shape": [2], "datatype": "BYTES", "data": [items[0], "brand-new-1"]},
                {"name": "item_titles", "shape": [2], "datatype": "BYTES", "data": ["", "Hydrating rose face cream"]},
            ]
        },
    )
    assert status == 200, v2
    outputs = {o["name"]: o["data"] for o in v2["outputs"]}
    assert outputs["unknown_items"] == [False, True]
    assert outputs["scores"][1] == pytest.approx(response["predictions"][1][1], abs=1e-6)


def test_a_v1_body_sent_without_the_json_content_type_is_read_as_json(server, pairs):
    user, items = pairs  # `curl -d` sends application/x-www-form-urlencoded
    body = json.dumps({"instances": [{"user_id": user, "item_ids": items[:3]}]}).encode()
    status, response = post(f"{server}/v1/models/aktrec:predict", body, "application/x-www-form-urlencoded")
    assert status == 200 and len(response["predictions"][0]) == 3, response
    status, response = post(f"{server}/v1/models/aktrec:predict", b"user_id=u", "application/x-www-form-urlencoded")
    assert status == 400 and "not JSON" in response["error"], response


BAD_REQUESTS = [
    ("malformed JSON", "/v1/models/aktrec:predict", b'{"instances": [', "Unrecognized request format"),
    ("no instances", "/v1/models/aktrec:predict", {"inputs": []}, "missing field 'instances'; unknown field 'inputs'"),
    ("missing item_ids", "/v1/models/aktrec:predict", {"instances": [{"user_id": "u"}]}, "missing field 'item_ids'"),
    (
        "user_id not a string",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": 5, "item_ids": ["a"]}]},
        "instances[0].user_id",
    ),
    (
        "item_ids not a list",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": "u", "item_ids": "a"}]},
        "instances[0].item_ids: Input should be a valid list",
    ),
    (
        "empty candidates",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": "u", "item_ids": []}]},
        "empty candidate list",
    ),
    (
        "too many candidates",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": "u", "item_ids": [f"i{n}" for n in range(MAX_CANDIDATES + 1)]}]},
        f"limit of {MAX_CANDIDATES}",
    ),
    (
        "unknown field",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": "u", "item_ids": ["a"], "x": 1}]},
        "unknown field",
    ),
    (
        "new item without title",
        "/v1/models/aktrec:predict",
        {"instances": [{"user_id": "u", "item_ids": ["a"], "items": [{"item_id": "a"}]}]},
        "instances[0].items[0]: missing field 'title'",
    ),
    (
        "v2 missing tensor",
        "/v2/models/aktrec/infer",
        {"inputs": [{"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["u"]}]},
        "missing input tensor 'item_ids'",
    ),
    (
        "v2 wrong datatype",
        "/v2/models/aktrec/infer",
        {
            "inputs": [
                {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["u"]},
                {"name": "item_ids", "shape": [1], "datatype": "FP32", "data": [1.0]},
            ]
        },
        "datatype must be BYTES",
    ),
    (
        "v2 shape mismatch",
        "/v2/models/aktrec/infer",
        {
            "inputs": [
                {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["u"]},
                {"name": "item_ids", "shape": [3], "datatype": "BYTES", "data": ["a"]},
            ]
        },
        "item_ids",
    ),
    ("oversized body", "/v1/models/aktrec:predict", b"{" + b" " * 70_000 + b"}", "over the limit"),
]


@pytest.mark.parametrize("case,path,body,message", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_a_4xx_that_says_what_is_wrong(server, pairs, case, path, body, message):
    status, response = post(server + path, body)
    assert 400 <= status < 500, (status, response)
    assert message in response.get("error", ""), response
    user, items = pairs  # and the server keeps serving
    status, _ = post(f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": items[:2]}]})
    assert status == 200


def test_health_readiness_and_metadata_endpoints(server):
    for path in ("/", "/v2/health/live", "/v2/health/ready", "/v1/models/aktrec", "/v2/models/aktrec/ready"):
        with urllib.request.urlopen(server + path, timeout=10) as response:
            assert response.status == 200, path
    try:
        urllib.request.urlopen(server + "/v2/models/other", timeout=10)
        pytest.fail("unknown model must be 404")
    except urllib.error.HTTPError as error:
        assert error.code == 404


def test_eight_concurrent_clients_get_no_errors(server, pairs):
    user, items = pairs
    errors, counts, stop = [], [0] * 8, time.monotonic() + 15

    def client(n: int) -> None:
        rng = np.random.default_rng(n)
        while time.monotonic() < stop:
            chosen = list(rng.choice(items, size=int(rng.integers(1, len(items) + 1))))
            status, body = post(
                f"{server}/v1/models/aktrec:predict", {"instances": [{"user_id": user, "item_ids": chosen}]}
            )
            if status != 200 or len(body["predictions"][0]) != len(chosen):
                errors.append((status, body))
            counts[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert min(counts) > 0
