"""Scoring requests of both protocols, validated by pydantic models into one form; every
problem is a 400 that names the field and says what is wrong (KServe answers `InvalidInput`
with 400, anything else with 500). The models' JSON Schema is `docs/request-schemas.json`
(`request_schemas()`; a test keeps the file current).

KServe v1:  {"instances": [{"user_id": "u1", "item_ids": ["i1", ...],
                             "items": [{"item_id": "i9", "title": "...", ...}]}]}
            `items` (optional) describes candidates the model may not know (cold start).
Open Inference Protocol v2 inputs (all BYTES):
            user_id [1], item_ids [N], item_titles [N] (optional; "" = not given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from aktrec import schemas
from aktrec.config import ServingConfig
from aktrec.serving.kserve_adapter import InvalidInput

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
NonEmpty = Annotated[str, Field(min_length=1)]
STRICT = ConfigDict(strict=True, extra="forbid")


def _limited(item_ids: list[str], info: ValidationInfo) -> list[str]:
    """At least one candidate, at most the serving config's limit (passed as validation context)."""
    if not item_ids:
        raise PydanticCustomError("empty", "empty candidate list; send at least one item id")
    limit = (info.context or {}).get("max_candidates")
    if limit is not None and len(item_ids) > limit:
        raise PydanticCustomError(
            "too_many",
            "{n} candidates, more than the limit of {limit} per request",
            {"n": len(item_ids), "limit": limit},
        )
    return item_ids


Candidates = Annotated[list[NonEmpty], AfterValidator(_limited)]


class NewItem(BaseModel):
    """A candidate the model may not know, described so it can be placed (cold start)."""

    model_config = STRICT
    item_id: NonEmpty
    title: str = Field(description="Required: the text the item's representation is built from.")
    description: str | None = None
    category: str | None = None
    brand: str | None = None
    price: float | None = Field(default=None, strict=False)

    @field_validator("title")
    @classmethod
    def _has_text(cls, title: str) -> str:
        if not title.strip():
            raise PydanticCustomError("empty_title", "a new item needs a non-empty title")
        return title


class Instance(BaseModel):
    """One user and the candidates to score for it, answered in this order."""

    model_config = STRICT
    user_id: NonEmpty
    item_ids: Candidates = Field(
        description="Candidates, scored in this order; at most `max_candidates` (serving config).",
        json_schema_extra={"minItems": 1},
    )
    items: list[NewItem] | None = Field(default=None, description="Descriptions of candidates the model may not know.")

    @model_validator(mode="after")
    def _items_are_candidates(self) -> Instance:
        candidates = set(self.item_ids)
        for item in self.items or []:
            if item.item_id not in candidates:
                raise PydanticCustomError(
                    "not_a_candidate",
                    "items: item_id '{item_id}' must be one of the request's item_ids",
                    {"item_id": item.item_id},
                )
        return self


class V1Request(BaseModel):
    """KServe v1 `:predict` body."""

    model_config = STRICT
    instances: list[Instance] = Field(
        description="Scoring requests; at most `max_instances` (serving config).", json_schema_extra={"minItems": 1}
    )

    @field_validator("instances", mode="before")
    @classmethod
    def _bounded(cls, instances: Any, info: ValidationInfo) -> Any:
        if isinstance(instances, list):
            if not instances:
                raise PydanticCustomError("empty", '"instances" must be a non-empty list')
            limit = (info.context or {}).get("max_instances")
            if limit is not None and len(instances) > limit:
                raise PydanticCustomError(
                    "too_many", "{n} instances, more than the limit of {limit}", {"n": len(instances), "limit": limit}
                )
        return instances


class V2Inputs(BaseModel):
    """The v2 input tensors, decoded (each BYTES tensor as a list of strings)."""

    model_config = STRICT
    user_id: list[NonEmpty] = Field(min_length=1, max_length=1, description="Shape [1].")
    item_ids: Candidates = Field(
        description="Shape [N]; at most `max_candidates` (serving config).", json_schema_extra={"minItems": 1}
    )
    item_titles: list[str] | None = Field(
        default=None, description='Shape [N], optional: titles of candidates the model may not know ("" = not given).'
    )

    @model_validator(mode="after")
    def _titles_match(self) -> V2Inputs:
        if self.item_titles is not None and len(self.item_titles) != len(self.item_ids):
            raise PydanticCustomError(
                "length",
                "item_titles: {n} values for {k} item_ids",
                {"n": len(self.item_titles), "k": len(self.item_ids)},
            )
        return self


def request_schemas() -> dict[str, Any]:
    """JSON Schema of the v1 body and of the v2 inputs (documented in docs/request-schemas.json)."""
    return {"v1": V1Request.model_json_schema(), "v2_inputs": V2Inputs.model_json_schema()}


@dataclass
class ScoringRequest:
    """One user and its candidates, in the order to answer in. `new_items`: contract rows
    (item_id, title, ...) of candidates described in the request, or None."""

    user_id: str
    item_ids: list[str]
    new_items: pd.DataFrame | None = None


def _where(location: tuple) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: dict[str, Any], prefix: str) -> str:
    """One pydantic error as `field: what is wrong` (pydantic's wording for type errors)."""
    location = error["loc"]
    if error["type"] == "missing":
        where, message = _where(location[:-1]), f"missing field {location[-1]!r}"
    elif error["type"] == "extra_forbidden":
        where, message = _where(location[:-1]), f"unknown field {location[-1]!r}"
    else:
        where, message = _where(location), error["msg"]
    return f"{prefix}{where}: {message}" if where else message


def _invalid(error: ValidationError, prefix: str = "", shown: int = 3) -> InvalidInput:
    """One 400 naming the first few problems, each with its field."""
    problems = [_problem(e, prefix) for e in error.errors(include_url=False)]
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return InvalidInput("; ".join(problems[:shown]) + more)


def _frame(rows: list[dict]) -> pd.DataFrame | None:
    return pd.DataFrame(rows).drop_duplicates(schemas.ITEM_ID, keep="last") if rows else None


def parse_v1(payload: Any, config: ServingConfig) -> list[ScoringRequest]:
    if isinstance(payload, (bytes, bytearray)):  # KServe hands over the raw body when it was not sent as JSON
        try:
            payload = json.loads(payload)
        except ValueError:
            raise InvalidInput(
                'the request body is not JSON: expected {"instances": [...]} (Content-Type: application/json)'
            ) from None
    if not isinstance(payload, dict):
        raise InvalidInput('expected a JSON object {"instances": [{"user_id": ..., "item_ids": [...]}]}')
    context = {"max_candidates": config.max_candidates, "max_instances": config.max_instances}
    try:
        request = V1Request.model_validate(payload, context=context)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return [
        ScoringRequest(
            instance.user_id,
            instance.item_ids,
            _frame([item.model_dump(exclude_none=True) for item in instance.items or []]),
        )
        for instance in request.instances
    ]


def _v2_strings(request, name: str) -> list[str] | None:
    tensor = request.get_input_by_name(name)
    if tensor is None:
        return None
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input {name!r}: datatype must be BYTES, got {tensor.datatype}")
    try:
        values = tensor.as_numpy().reshape(-1).tolist()
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"input {name!r}: data does not match shape {tensor.shape} ({exc})") from None
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in values]


def parse_v2(request, config: ServingConfig) -> ScoringRequest:
    known = [spec["name"] for spec in V2_INPUTS]
    extra = sorted({tensor.name for tensor in request.inputs} - set(known))
    if extra:
        raise InvalidInput(f"unknown input tensor(s) {extra}; inputs: {known}")
    tensors = {name: _v2_strings(request, name) for name in known}
    missing = [spec["name"] for spec in V2_INPUTS if not spec.get("optional") and tensors[spec["name"]] is None]
    if missing:
        raise InvalidInput(f"missing input tensor {missing[0]!r}; inputs: {known}")
    try:
        inputs = V2Inputs.model_validate(
            {name: values for name, values in tensors.items() if values is not None},
            context={"max_candidates": config.max_candidates},
        )
    except ValidationError as exc:
        raise _invalid(exc, prefix="input ") from None
    titles = inputs.item_titles or [""] * len(inputs.item_ids)
    new_items = [{schemas.ITEM_ID: i, schemas.TITLE: t} for i, t in zip(inputs.item_ids, titles) if t.strip()]
    return ScoringRequest(inputs.user_id[0], inputs.item_ids, _frame(new_items))
