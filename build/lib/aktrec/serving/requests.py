"""Scoring requests of both protocols, validated into one form; every problem is a 400 that
says what is wrong (KServe answers `InvalidInput` with 400, anything else with 500).

KServe v1:  {"instances": [{"user_id": "u1", "item_ids": ["i1", ...],
                             "items": [{"item_id": "i9", "title": "...", ...}]}]}
            `items` (optional) describes candidates the model may not know (cold start).
Open Inference Protocol v2 inputs (all BYTES):
            user_id [1], item_ids [N], item_titles [N] (optional; "" = not given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from kserve.errors import InvalidInput

from aktrec import schemas as S
from aktrec.config import ServingConfig

V2_INPUTS = [
    {"name": "user_id", "datatype": "BYTES", "shape": [1]},
    {"name": "item_ids", "datatype": "BYTES", "shape": [-1]},
    {"name": "item_titles", "datatype": "BYTES", "shape": [-1], "optional": True},
]
V2_OUTPUTS = [
    {"name": "scores", "datatype": "FP32", "shape": [-1]},
    {"name": "unknown_items", "datatype": "BOOL", "shape": [-1]},
    {"name": "unknown_user", "datatype": "BOOL", "shape": [1]},
]
ITEM_TEXT_FIELDS = (S.TITLE, "description", S.CATEGORY, "brand", "price")


@dataclass
class ScoringRequest:
    """One user and its candidates, in the order to answer in. `new_items`: contract rows
    (item_id, title, ...) of candidates described in the request, or None."""

    user_id: str
    item_ids: list[str]
    new_items: pd.DataFrame | None = None


def _ids(value: Any, where: str, limit: int) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: expected a list of item id strings, got {type(value).__name__}")
    if not value:
        raise InvalidInput(f"{where}: empty candidate list; send at least one item id")
    if len(value) > limit:
        raise InvalidInput(f"{where}: {len(value)} candidates, more than the limit of {limit} per request")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise InvalidInput(f"{where}[{i}]: expected a non-empty string, got {item!r}")
    return value


def _user(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _new_items(value: Any, item_ids: list[str], where: str) -> pd.DataFrame | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise InvalidInput(f'{where}: expected a list of item objects like {{"item_id": "i9", "title": "..."}}')
    candidates = set(item_ids)
    for i, row in enumerate(value):
        if not isinstance(row.get(S.ITEM_ID), str) or row[S.ITEM_ID] not in candidates:
            raise InvalidInput(
                f"{where}[{i}].item_id: must be one of the request's item_ids, got {row.get(S.ITEM_ID)!r}"
            )
        if not isinstance(row.get(S.TITLE), str) or not row[S.TITLE].strip():
            raise InvalidInput(f"{where}[{i}].title: a new item needs a non-empty title string")
        unknown = sorted(set(row) - {S.ITEM_ID, *ITEM_TEXT_FIELDS})
        if unknown:
            raise InvalidInput(f"{where}[{i}]: unknown field(s) {unknown}; allowed: {[S.ITEM_ID, *ITEM_TEXT_FIELDS]}")
    return pd.DataFrame(value).drop_duplicates(S.ITEM_ID, keep="last") if value else None


def parse_v1(payload: Any, config: ServingConfig) -> list[ScoringRequest]:
    if isinstance(payload, (bytes, bytearray)):  # KServe hands over the raw body when it was not sent as JSON
        try:
            payload = json.loads(payload)
        except ValueError:
            raise InvalidInput(
                'the request body is not JSON: expected {"instances": [...]} (Content-Type: application/json)'
            ) from None
    if not isinstance(payload, dict):
        raise InvalidInput('expected a JSON object {"instances": [...]}')
    instances = payload.get("instances")
    if instances is None:
        raise InvalidInput('missing field "instances": expected {"instances": [{"user_id": ..., "item_ids": [...]}]}')
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list')
    if len(instances) > config.max_instances:
        raise InvalidInput(f'"instances": {len(instances)} instances, more than the limit of {config.max_instances}')
    requests = []
    for n, instance in enumerate(instances):
        where = f"instances[{n}]"
        if not isinstance(instance, dict):
            raise InvalidInput(f"{where}: expected an object with user_id and item_ids")
        for field in ("user_id", "item_ids"):
            if field not in instance:
                raise InvalidInput(f"{where}: missing field {field!r}")
        unknown = sorted(set(instance) - {"user_id", "item_ids", "items"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field(s) {unknown}; allowed: user_id, item_ids, items")
        item_ids = _ids(instance["item_ids"], f"{where}.item_ids", config.max_candidates)
        requests.append(
            ScoringRequest(
                _user(instance["user_id"], f"{where}.user_id"),
                item_ids,
                _new_items(instance.get("items"), item_ids, f"{where}.items"),
            )
        )
    return requests


def _v2_strings(request, name: str, required: bool) -> list[str] | None:
    tensor = request.get_input_by_name(name)
    if tensor is None:
        if required:
            raise InvalidInput(f"missing input tensor {name!r}; inputs: {[i['name'] for i in V2_INPUTS]}")
        return None
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input {name!r}: datatype must be BYTES, got {tensor.datatype}")
    try:
        values = tensor.as_numpy().reshape(-1).tolist()
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"input {name!r}: data does not match shape {tensor.shape} ({exc})") from None
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in values]


def parse_v2(request, config: ServingConfig) -> ScoringRequest:
    known = {i["name"] for i in V2_INPUTS}
    extra = sorted({tensor.name for tensor in request.inputs} - known)
    if extra:
        raise InvalidInput(f"unknown input tensor(s) {extra}; inputs: {sorted(known)}")
    users = _v2_strings(request, "user_id", True)
    if len(users) != 1:
        raise InvalidInput(f"input 'user_id': expected shape [1], got {len(users)} values")
    item_ids = _ids(_v2_strings(request, "item_ids", True), "input 'item_ids'", config.max_candidates)
    titles = _v2_strings(request, "item_titles", False)
    new_items = None
    if titles is not None:
        if len(titles) != len(item_ids):
            raise InvalidInput(f"input 'item_titles': {len(titles)} values for {len(item_ids)} item_ids")
        rows = [{S.ITEM_ID: i, S.TITLE: t} for i, t in zip(item_ids, titles) if t.strip()]
        new_items = pd.DataFrame(rows).drop_duplicates(S.ITEM_ID, keep="last") if rows else None
    return ScoringRequest(_user(users[0], "input 'user_id'"), item_ids, new_items)
