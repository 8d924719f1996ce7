"""Pipeline configuration, submission (with a stand-in client) and request parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aktrec.config import ServingConfig
from aktrec.errors import AktrecError


def test_pipeline_config_is_split_per_stage_and_checked_up_front():
    from aktrec.pipeline.steps import section, split_config

    sections = split_config("train:\n  loop: {epochs: 2}\nprepare:\n  split: {method: leave-last-out}\n")
    assert set(sections) == {"prepare", "embed_items", "embed_users", "semantic_ids", "features", "train"}
    assert sections["embed_items"] == "" and section("train", sections["train"]).loop.epochs == 2
    assert section("prepare", sections["prepare"]).split.method == "leave-last-out"
    for text, message in [
        ("nope: {}", "unknown section(s) ['nope']"),
        ("train: {loop: {epochs: x}}", "pipeline config.train.loop.epochs: Input should be a valid integer"),
        ("[1, 2]", "expected a mapping"),
        ("train: {variants: [base, zzz]}", "unknown variant 'zzz'"),
        ("a: [", "not valid YAML"),
    ]:
        with pytest.raises(AktrecError) as error:
            split_config(text)
        assert message in str(error.value), (text, str(error.value))


@pytest.mark.parametrize("name", ["amazon-beauty.yaml", "bounded-training.yaml"])
def test_shipped_pipeline_configs_are_valid(name):
    from pathlib import Path

    from aktrec.pipeline.steps import section, split_config

    sections = split_config((Path(__file__).resolve().parents[2] / "pipelines" / "configs" / name).read_text())
    assert section("train", sections["train"]).loop.max_train_samples == 300_000


def test_v1_requests_parse_and_bad_ones_name_the_problem():
    from aktrec.serving.kserve_adapter import InvalidInput
    from aktrec.serving.requests import parse_v1

    config = ServingConfig(max_candidates=3, max_instances=2)
    [request] = parse_v1(
        {"instances": [{"user_id": "u", "item_ids": ["a", "b"], "items": [{"item_id": "b", "title": "A new thing"}]}]},
        config,
    )
    assert request.user_id == "u" and request.item_ids == ["a", "b"] and request.new_items["item_id"].tolist() == ["b"]
    [sent_as_text] = parse_v1(b'{"instances": [{"user_id": "u", "item_ids": ["a"]}]}', config)  # curl -d, no JSON type
    assert sent_as_text.item_ids == ["a"]
    bad = [
        ([], "expected a JSON object"),
        (b"user_id=u", "the request body is not JSON"),
        ({"instances": []}, "non-empty list"),
        ({"instances": [{"user_id": "u", "item_ids": ["a"], "x": 1}]}, "instances[0]: unknown field 'x'"),
        ({"instances": [{"user_id": "u", "item_ids": "a"}]}, "instances[0].item_ids: Input should be a valid list"),
        ({"instances": [{"user_id": "u", "item_ids": ["a"]}] * 3}, "limit of 2"),
        ({"instances": [{"user_id": "", "item_ids": ["a"]}]}, "instances[0].user_id"),
        ({"instances": [{"user_id": "u", "item_ids": ["a", 3]}]}, "instances[0].item_ids[1]"),
        ({"instances": [{"user_id": "u", "item_ids": ["a", "b", "c", "d"]}]}, "limit of 3"),
        (
            {"instances": [{"user_id": "u", "item_ids": ["a"], "items": [{"item_id": "z", "title": "t"}]}]},
            "must be one of",
        ),
    ]
    for payload, message in bad:
        with pytest.raises(InvalidInput) as error:
            parse_v1(payload, config)
        assert message in str(error.value.reason), (payload, error.value.reason)


def test_validation_page_escapes_data_and_keeps_its_own_markup():
    from aktrec.report.html import validation_html

    summary = {
        "success": False,
        "suites": {
            "<suite>": {
                "n_rows": 3,
                "n_expectations": 2,
                "success": False,
                "expectations": [
                    {"success": True, "description": "<script>alert(1)</script> in range"},
                    {"success": False, "description": "ids unique"},
                ],
            }
        },
    }
    page = validation_html("prepare", {"data": summary}, {"data": "gx/index.html"})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; in range" in page
    assert "&lt;suite&gt;" in page and page.count('<span class="fail">') == 3  # ✗, the suite, the stage
    assert '<span class="pass">✓</span>' in page and '<a href="gx/index.html">' in page


def test_bad_requests_are_logged_as_one_warning_line_and_server_errors_keep_their_traceback():
    import logging
    import sys

    from aktrec.serving.kserve_adapter import InvalidInput
    from aktrec.serving.server import BadRequestsInOneLine

    only_ours = BadRequestsInOneLine(InvalidInput)

    def record(error: Exception) -> logging.LogRecord:
        try:
            raise error
        except Exception:
            return logging.LogRecord("kserve", logging.ERROR, __file__, 1, "Exception:", None, sys.exc_info())

    bad = record(InvalidInput("instances[0]: item_ids is missing"))
    assert only_ours.filter(bad) and bad.levelname == "WARNING" and bad.exc_info is None
    assert logging.Formatter().format(bad) == "bad request: instances[0]: item_ids is missing"
    broken = record(RuntimeError("model failed"))
    assert only_ours.filter(broken) and broken.levelname == "ERROR"
    assert "Traceback" in logging.Formatter().format(broken)


def test_documented_request_schemas_are_the_models_schemas():
    from aktrec.serving.requests import request_schemas

    documented = json.loads((Path(__file__).resolve().parents[2] / "docs" / "request-schemas.json").read_text())
    assert documented == request_schemas(), (
        "docs/request-schemas.json is stale: python -c 'import json; from aktrec.serving.requests import "
        "request_schemas; print(json.dumps(request_schemas(), indent=2))' > docs/request-schemas.json"
    )
    assert documented["v1"]["required"] == ["instances"]


def test_gpu_variant_puts_the_torch_steps_on_a_gpu_node_in_the_cuda_image(tmp_path):
    import yaml

    from aktrec.pipeline import IMAGE
    from aktrec.pipeline.runner import GPU_TASKS, compile_pipeline

    spec, platform = yaml.safe_load_all(
        compile_pipeline(tmp_path / "gpu.yaml", gpu_image="registry.example/aktrec-cuda:1").read_text()
    )
    assert "exec-deploy" in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]  # kept
    assert [p.name for p in tmp_path.iterdir()] == ["gpu.yaml"]  # staged, then moved into place
    tasks = spec["root"]["dag"]["tasks"]

    def container(task):
        label = spec["components"][tasks[task]["componentRef"]["name"]]["executorLabel"]
        return spec["deploymentSpec"]["executors"][label]["container"]

    for task in GPU_TASKS:
        assert container(task)["image"] == "registry.example/aktrec-cuda:1"
        accelerator = container(task)["resources"]["accelerator"]
        assert accelerator["resourceType"] == "nvidia.com/gpu" and accelerator["resourceCount"] == "1"
    for task in ("prepare", "semantic-ids", "materialize-features"):
        assert container(task)["image"] == IMAGE and "accelerator" not in container(task).get("resources", {})


def test_device_settings_resolve_auto_and_name_a_bad_device(monkeypatch):
    import torch

    from aktrec.config import CtrTrainConfig, EncoderConfig
    from aktrec.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(
        AktrecError, match="ctr train config: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"
    ):
        CtrTrainConfig(device="gpu")
    with pytest.raises(AktrecError, match="encoder: device must be .* got 'mps'"):
        EncoderConfig(device="mps")
