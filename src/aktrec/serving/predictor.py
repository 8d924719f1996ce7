"""The KServe custom predictor: `load` opens the bundle and the Feast store, `preprocess`
validates the request, `predict` and `explain` score every candidate and answer in the order
given, flagging ids the model never saw. Concurrent requests are micro-batched: one feature
read per view and one forward pass for the batch, on a scoring thread (`batching`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aktrec.config import ServingConfig
from aktrec.ctr.bundle import load_bundle, predict
from aktrec.ctr.inputs import UNKNOWN
from aktrec.errors import ArtifactError
from aktrec.features import names as feature_names
from aktrec.features.online import connection_errors, store_error
from aktrec.monitoring.prediction_log import LoggedRequest, PredictionLogger
from aktrec.serving.batching import MicroBatcher
from aktrec.serving.features import OnlineFeatureReader
from aktrec.serving.kserve_adapter import InferOutput, InferRequest, InferResponse, Model, ModelNotReady
from aktrec.serving.requests import V2_INPUTS, V2_OUTPUTS, ScoringRequest, parse_v1, parse_v2


@dataclass
class Prepared:
    """What preprocess hands to predict or explain: the parsed requests (one per v1 instance)."""

    requests: list[ScoringRequest]
    v2_request: InferRequest | None = None


@dataclass
class Job:
    """One call's requests for the micro-batcher; `explain`: also compute the gates."""

    requests: list[ScoringRequest]
    explain: bool = False
    logged: bool = False  # also keep what the prediction log records


@dataclass
class Scored:
    """One request's answer: per candidate its probability, whether the item was unknown, how
    much cluster knowledge went into it (`gates`, see `AktRec.gates`; only when explaining) and
    the clusters used. For the prediction log (when logged): the feature values the model read,
    which candidates were described in the request, and which are tail samples."""

    scores: np.ndarray
    unknown_items: np.ndarray
    unknown_user: bool
    gates: dict[str, np.ndarray]
    user_cluster: int
    item_clusters: np.ndarray
    features: dict[str, np.ndarray] | None = None
    described_items: np.ndarray | None = None
    is_tail: np.ndarray | None = None


class AktrecPredictor(Model):
    def __init__(self, model_dir: Path, repo: Path, config: ServingConfig = ServingConfig()) -> None:
        super().__init__(config.model_name)
        self.model_dir, self.repo, self.config = Path(model_dir), Path(repo), config
        self.bundle = None
        self.features: OnlineFeatureReader | None = None
        self.prediction_log: PredictionLogger | None = None
        self.batcher = MicroBatcher(
            self.score_batch,
            lambda job: sum(len(r.item_ids) for r in job.requests),
            config.max_batch_candidates,
            config.max_batch_wait_ms / 1000,
        )

    def load(self) -> bool:
        """Open the bundle and the feature repository; anything unreadable in them is one
        ArtifactError naming the path and what is wrong (the server does not start)."""
        from safetensors import SafetensorError

        torch.set_num_threads(self.config.torch_threads)
        try:
            self.bundle = load_bundle(self.model_dir)
            self.features = OnlineFeatureReader(self.repo, self.bundle, self.config)
        except (OSError, KeyError, ValueError, RuntimeError, SafetensorError) as exc:
            what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ArtifactError(f"{self.model_dir} with {self.repo}: cannot be served ({what})") from None
        self.store_errors = connection_errors()
        if self.config.prediction_log.uri:
            self.prediction_log = PredictionLogger(
                self.config.prediction_log,
                # KServe's storage initializer reads STORAGE_URI: the release this pod serves
                release=self.config.release or os.environ.get("STORAGE_URI") or str(self.model_dir),
                arm=self.config.arm,
                variant=self.bundle.variant,
                **self.features.logged_features(),
            )
        self.ready = True
        return self.ready

    def stop(self) -> None:
        """At shutdown: write what the prediction log still holds."""
        if self.prediction_log is not None:
            self.prediction_log.close()
            self.prediction_log = None

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
            return Prepared([parse_v2(payload, self.config)], payload)
        return Prepared(parse_v1(payload, self.config))

    def score_batch(self, jobs: list[Job]) -> list[list[Scored]]:
        """The requests of many calls in one feature read and one forward pass (scoring thread)."""
        requests = [request for job in jobs for request in job.requests]
        try:
            columns = self.features.columns(requests)
        except self.store_errors as exc:  # the store went away mid-request: a 503 that says so, not a 500
            raise ModelNotReady(self.name, self.features.lost_store(store_error(exc))) from None
        inputs = self.bundle.encode(columns)
        scores = predict(self.bundle.model, inputs)
        gates = {}
        if any(job.explain for job in jobs):
            batch = inputs.batch(np.arange(len(inputs)))
            gates = {name: values.numpy() for name, values in self.bundle.model.gates(batch).items()}
        unknown_items, unknown_users = inputs.ids["item"] == UNKNOWN, inputs.ids["user"] == UNKNOWN
        user_clusters, item_clusters = columns[feature_names.USER_CLUSTER_ID], columns[feature_names.ITEM_CLUSTER_ID]
        logged = any(job.logged for job in jobs)
        if logged:
            model = self.bundle.model
            is_tail = (
                model.users.is_tail[inputs.ids["user"]].numpy()
                | model.items.is_tail[inputs.ids["item"]].numpy()
                | unknown_users
                | unknown_items
            )
            described = np.array([item in self.features.new_items for r in requests for item in r.item_ids], bool)
        scored, start = [], 0
        for request in requests:
            rows = slice(start, start + len(request.item_ids))
            start = rows.stop
            scored.append(
                Scored(
                    scores=scores[rows],
                    unknown_items=unknown_items[rows],
                    unknown_user=bool(unknown_users[rows.start]),
                    gates={name: values[rows] for name, values in gates.items()},
                    user_cluster=int(user_clusters[rows.start]),
                    item_clusters=item_clusters[rows],
                    **(
                        {
                            "features": {name: values[rows] for name, values in columns.items()},
                            "described_items": described[rows],
                            "is_tail": is_tail[rows],
                        }
                        if logged
                        else {}
                    ),
                )
            )
        out, start = [], 0
        for job in jobs:
            out.append(scored[start : start + len(job.requests)])
            start += len(job.requests)
        return out

    async def scored(self, job: Job) -> list[Scored]:
        """`job` scored by the batcher within the store deadline; past it a 503 (the scoring
        thread may be waiting on a hung store: the next requests find readiness false)."""
        try:
            return await asyncio.wait_for(self.batcher.submit(job), self.config.store_deadline_s)
        except TimeoutError:
            raise ModelNotReady(self.name, self.features.lost_store(self.features.stalled_store())) from None

    async def predict(self, payload: Prepared, headers: dict[str, str] | None = None) -> dict[str, Any] | InferResponse:
        results = await self.scored(Job(payload.requests, logged=self.prediction_log is not None))
        if self.prediction_log is not None:
            self._log(payload, results, headers)
        if payload.v2_request is None:
            return {
                "predictions": [r.scores.tolist() for r in results],
                "unknown": [
                    {"user": r.unknown_user, "item_ids": [i for i, u in zip(q.item_ids, r.unknown_items) if u]}
                    for q, r in zip(payload.requests, results)
                ],
            }
        result = results[0]
        outputs = [
            InferOutput("scores", [len(result.scores)], "FP32", result.scores.astype(np.float32).tolist()),
            InferOutput("unknown_items", [len(result.unknown_items)], "BOOL", result.unknown_items.tolist()),
            InferOutput("unknown_user", [1], "BOOL", [result.unknown_user]),
        ]
        return InferResponse(
            response_id=payload.v2_request.id or str(uuid.uuid4()),
            model_name=self.name,
            infer_outputs=outputs,
            use_binary_outputs=payload.v2_request.use_binary_outputs,  # raw in, raw out (Triton's clients)
        )

    def _log(self, payload: Prepared, results: list[Scored], headers: dict[str, str] | None) -> None:
        """Hand the answered requests to the prediction log, under the client's request id
        (x-request-id, or the v2 request's id) or a new one."""
        request_id = (payload.v2_request.id if payload.v2_request is not None else None) or next(
            (value for key, value in (headers or {}).items() if key.lower() == "x-request-id"), None
        )
        request_id = request_id or str(uuid.uuid4())
        self.prediction_log.log(
            [
                LoggedRequest(
                    request_id=request_id,
                    instance=n,
                    user_id=request.user_id,
                    item_ids=request.item_ids,
                    scores=result.scores,
                    unknown_user=result.unknown_user,
                    unknown_items=result.unknown_items,
                    described_items=result.described_items,
                    is_tail=result.is_tail,
                    features=result.features,
                )
                for n, (request, result) in enumerate(zip(payload.requests, results))
            ]
        )

    async def explain(self, payload: Prepared, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Per instance and candidate: the score, how much of it came from cluster knowledge
        (the CGAE gates of user and item, the HFA gate) and the clusters it came from."""
        results = await self.scored(Job(payload.requests, explain=True))
        return {
            "explanations": [
                [
                    {
                        "item_id": item_id,
                        "score": float(result.scores[n]),
                        **{name: float(values[n]) for name, values in result.gates.items()},
                        "user_cluster": result.user_cluster,
                        "item_cluster": int(result.item_clusters[n]),
                        "unknown_user": result.unknown_user,
                        "unknown_item": bool(result.unknown_items[n]),
                    }
                    for n, item_id in enumerate(request.item_ids)
                ]
                for request, result in zip(payload.requests, results)
            ]
        }
