"""The model bundle: everything serving needs to score a (user, candidates) request.

MODEL/
  config.json            variant, model config, shapes, feature service and its columns
  model.safetensors      weights and id priors (no pickles anywhere)
  vocab/<name>.parquet   ids in index order (index 0 = unknown is implicit)
  semantic/              semantic-id tables and quantizers (a new item's cluster)
  item_embedder/         the content encoder + projection (a new item's representation)
  metrics.json, comparison.md, gate.json, validation/
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from aktrec import schemas
from aktrec.artifacts import list_matrix, read_marker, write_json, write_parquet
from aktrec.config import CtrModelConfig, TrainConfig, from_dict
from aktrec.ctr.inputs import FEATURE_COLUMNS, CtrInputs, Frame, Vocabularies, Vocabulary, encode
from aktrec.ctr.modules import AktRec, IdPriors, ModelShapes
from aktrec.ctr.vocabularies import build_model
from aktrec.errors import ArtifactError
from aktrec.semantic_ids.tables import SemanticTables

MODEL_KIND = "model"
VOCABULARIES = ("user", "item", "user_cluster", "item_cluster", "user_attribute", "item_attribute")
PRIOR_BUFFERS = {
    "user_cluster_of": "users.cluster_of",
    "item_cluster_of": "items.cluster_of",
    "user_is_tail": "users.is_tail",
    "item_is_tail": "items.is_tail",
    "user_cluster_init": "users.cluster_init",
    "item_cluster_init": "items.cluster_init",
    "user_cluster_attributes": "user_cluster_attributes",
    "item_cluster_attributes": "item_cluster_attributes",
    "item_vectors": "item_vectors",
}


@torch.no_grad()
def predict(model: AktRec, inputs: CtrInputs, batch_size: int = 8192) -> np.ndarray:
    """Click probabilities (N,) in the inputs' order, on the device the model is on."""
    model.eval()
    device = next(model.parameters()).device
    out = [
        torch.sigmoid(model(on_device(inputs.batch(np.arange(start, min(start + batch_size, len(inputs)))), device)))
        for start in range(0, len(inputs), batch_size)
    ]
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, np.float32)


def on_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {name: values.to(device, non_blocking=True) for name, values in batch.items()}


@dataclass
class ModelBundle:
    path: Path
    variant: str
    model: AktRec
    vocab: Vocabularies
    content_dims: dict[str, int]
    feature_service: str

    def encode(self, frame: Frame) -> CtrInputs:
        return encode(frame, self.vocab, self.content_dims, self.model.shapes.sequence_length)

    def predict(self, frame: Frame) -> np.ndarray:
        """Click probabilities of a retrieved feature frame, in its row order."""
        return predict(self.model, self.encode(frame))

    def check_repository(self, repo: Path, repo_marker: dict[str, Any]) -> None:
        """The repository must serve the feature service this model was trained with."""
        if repo_marker["feature_service"] != self.feature_service:
            raise ArtifactError(
                f"{repo}: serves feature service {repo_marker['feature_service']!r}, but the model "
                f"{self.path} was trained with {self.feature_service!r}"
            )

    def semantic_tables(self, kind: str) -> SemanticTables:
        """Codes and clusters of the ids known at training (no representations: they come from Feast)."""
        table = pq.read_table(self.path / "semantic" / f"{kind}_semantic_ids.parquet")
        codes = list_matrix(table[schemas.CODES])
        return SemanticTables(
            ids=pd.Index(table.column(0).to_pylist()),
            codes=codes,
            cluster=table[schemas.CLUSTER_ID].to_numpy(),
            embeddings=np.zeros((len(codes), 0), np.float32),
        )


def save_bundle(
    staging: Path,
    variant: str,
    model: AktRec,
    vocab: Vocabularies,
    content_dims: dict[str, int],
    feature_service: str,
    sid_dir: Path,
    emb_dir: Path,
    extra: dict[str, Any],
) -> None:
    """Write the bundle files into `staging` (the caller's staged output directory)."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, staging / "model.safetensors")
    (staging / "vocab").mkdir()
    for name in VOCABULARIES:
        ids = getattr(vocab, name).ids
        write_parquet(pa.table({"id": pa.array(ids.to_numpy())}), staging / "vocab" / f"{name}.parquet")
    (staging / "semantic").mkdir()
    for kind in ("user", "item"):
        for file in (f"{kind}_semantic_ids.parquet", f"{kind}_quantizer.json", f"{kind}_quantizer.safetensors"):
            shutil.copy2(Path(sid_dir) / file, staging / "semantic" / file)
    if (Path(emb_dir) / "item_embedder").is_dir():
        shutil.copytree(Path(emb_dir) / "item_embedder", staging / "item_embedder")
    write_json(
        {
            "variant": variant,
            "model": asdict(model.config),
            "shapes": asdict(model.shapes),
            "content_dims": content_dims,
            "feature_service": feature_service,
            "feature_columns": FEATURE_COLUMNS,
            **extra,
        },
        staging / "config.json",
    )


def recorded_train_config(path: Path) -> TrainConfig:
    """The training settings bundle PATH was trained with (bundles that recorded none: the
    defaults), so that what splits the training data after training splits it as training did."""
    config = Path(path) / "config.json"
    try:
        recorded = json.loads(config.read_text()).get("train_config")
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: incomplete model bundle ({exc})") from None
    return from_dict(TrainConfig, recorded, where=f"{config} train_config")


def load_bundle(path: Path) -> ModelBundle:
    """A bundle written by `aktrec train`; weights are read with safetensors (no unpickling)."""
    path = Path(path)
    read_marker(path, MODEL_KIND)
    try:
        config = json.loads((path / "config.json").read_text())
        state = load_file(path / "model.safetensors")
        vocab = Vocabularies(
            **{
                name: Vocabulary(pd.Index(pq.read_table(path / "vocab" / f"{name}.parquet")["id"].to_pylist()))
                for name in VOCABULARIES
            }
        )
    except (OSError, KeyError, ValueError) as exc:
        raise ArtifactError(f"{path}: incomplete model bundle ({exc})") from None
    # Bundles written before the content affinity (no item_vectors) or the content history (no
    # history_content) record neither switch: their models did not read them.
    recorded = {
        "content_affinity": "item_vectors" in state,
        "content_history": "history_content.weight" in state,
        **config["model"],
    }
    model_config = from_dict(CtrModelConfig, recorded, where=f"{path}/config.json model")
    priors = IdPriors(**{name: state.get(key) for name, key in PRIOR_BUFFERS.items()})
    model = build_model(model_config, ModelShapes(**config["shapes"]), priors)
    model.load_state_dict(state)
    model.eval()
    return ModelBundle(
        path=path,
        variant=config["variant"],
        model=model,
        vocab=vocab,
        content_dims=config["content_dims"],
        feature_service=config["feature_service"],
    )
