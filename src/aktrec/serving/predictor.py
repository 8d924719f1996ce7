"""The KServe custom predictor: `load` opens the bundle and the Feast store, `preprocess`
validates the request and reads features, `predict` scores every candidate in one forward
pass per user and answers in the order given, flagging ids the model never saw."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kserve import Model
from kserve.errors import ModelNotReady
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from aktrec.config import ServingConfig
from aktrec.ctr.bundle import load_bundle
from aktrec.ctr.inputs import UNKNOWN
from aktrec.ctr.train import predict
from aktrec.features.online import connection_errors
from aktrec.serving.features import OnlineFeatureReader
from aktrec.serving.requests import V2_INPUTS, V2_OUTPUTS, ScoringRequest, parse_v1, parse_v2


@dataclass
class Prepared:
    """What preprocess hands to predict: the parsed requests with their feature columns."""

    requests: list[ScoringRequest]
    columns: list[dict[str, np.ndarray]]  # per request: feature column -> (K,) array
    v2_request: InferRequest | None = None


class AktrecPredictor(Model):
    def __init__(self, model_dir: Path, repo: Path, config: ServingConfig = ServingConfig()) -> None:
        super().__init__(config.model_name)
        self.model_dir, self.repo, self.config = Path(model_dir), Path(repo), config
        self.bundle = None
        self.features: OnlineFeatureReader | None = None

    def load(self) -> bool:
        torch.set_num_threads(self.config.torch_threads)
        self.bundle = load_bundle(self.model_dir)
        self.features = OnlineFeatureReader(self.repo, self.bundle, self.config.cache_refresh_seconds)
        self.store_errors = connection_errors()
        self.ready = True
        return self.ready

    async def healthy(self) -> bool:
        """Ready only while the online store holds this deployment's materialization. KServe
        asks before every request and for the readiness endpoint: raising says why (a 503)."""
        if not self.ready:
            return False
        problem = self.features.online_problem()
        if problem:
            raise ModelNotReady(self.name, problem)
        return True

    def get_input_types(self) -> list[dict]:
        return [{k: v for k, v in spec.items() if k != "optional"} for spec in V2_INPUTS]

    def get_output_types(self) -> list[dict]:
        return V2_OUTPUTS

    def preprocess(self, payload: dict | InferRequest, headers: dict[str, str] | None = None) -> Prepared:
        if isinstance(payload, InferRequest):
            requests, v2 = [parse_v2(payload, self.config)], payload
        else:
            requests, v2 = parse_v1(payload, self.config), None
        try:
            columns = [self.features.columns(r.user_id, r.item_ids, r.new_items) for r in requests]
        except self.store_errors as exc:  # the store went away mid-request: a 503 that says so, not a 500
            raise ModelNotReady(self.name, self.features.lost_store(exc)) from None
        return Prepared(requests, columns, v2)

    def score(self, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Probabilities, unknown-item flags and the unknown-user flag of one request's feature columns."""
        inputs = self.bundle.encode(columns)
        scores = predict(self.bundle.model, inputs)
        return scores, inputs.ids["item"] == UNKNOWN, bool(inputs.ids["user"][0] == UNKNOWN)

    def predict(self, payload: Prepared, headers: dict[str, str] | None = None) -> dict[str, Any] | InferResponse:
        results = [self.score(columns) for columns in payload.columns]
        if payload.v2_request is None:
            return {
                "predictions": [scores.tolist() for scores, _, _ in results],
                "unknown": [
                    {"user": user, "item_ids": [i for i, u in zip(r.item_ids, items) if u]}
                    for r, (_, items, user) in zip(payload.requests, results)
                ],
            }
        scores, items, user = results[0]
        outputs = [
            InferOutput("scores", [len(scores)], "FP32", scores.astype(np.float32).tolist()),
            InferOutput("unknown_items", [len(items)], "BOOL", items.tolist()),
            InferOutput("unknown_user", [1], "BOOL", [user]),
        ]
        return InferResponse(
            response_id=payload.v2_request.id or str(uuid.uuid4()), model_name=self.name, infer_outputs=outputs
        )
