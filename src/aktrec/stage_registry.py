"""The pipeline's stages in one place: the name of each step and component, its title for
people, its section of the pipeline config and where its validation summary lives. The steps,
the KFP components, the runner's messages and the run report all read this registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aktrec.config import FeatureConfig, ItemEmbedConfig, PrepareConfig, SemanticIdConfig, TrainConfig, UserEmbedConfig
from aktrec.errors import AktrecError


@dataclass(frozen=True)
class Stage:
    name: str  # the step (`<name>_step`) and the KFP component
    title: str  # how the report and the validation pages name it
    artifact: str  # the artifact (report key) whose directory holds its validation summary
    validation: str  # that summary's directory inside the artifact ("" = the artifact itself)
    config_section: str | None = None  # its section of the pipeline config, None = takes no config
    config: type | None = None

    def validation_dir(self, artifact_dir: str | Path) -> Path:
        return Path(artifact_dir) / self.validation


STAGES = (
    Stage("validate_raw", "raw data", "raw_validation", ""),
    Stage("prepare", "prepared data", "data", "validation", "prepare", PrepareConfig),
    Stage("embed_items", "item embeddings", "emb", "validation/items", "embed_items", ItemEmbedConfig),
    Stage("embed_users", "user embeddings", "emb", "validation/users", "embed_users", UserEmbedConfig),
    Stage("semantic_ids", "semantic IDs", "sid", "validation", "semantic_ids", SemanticIdConfig),
    Stage("materialize_features", "features", "feature_repo", "validation", "features", FeatureConfig),
    Stage("train", "promotion gate", "model", "validation", "train", TrainConfig),
)
CONFIG_SECTIONS: dict[str, type] = {stage.config_section: stage.config for stage in STAGES if stage.config_section}


def stage(name: str) -> Stage:
    for candidate in STAGES:
        if candidate.name == name:
            return candidate
    raise AktrecError(f"unknown stage {name!r}; stages: {[s.name for s in STAGES]}")
