from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Output

from aktrec.config import ItemEmbedConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage(
    "item embeddings",
    artifact="emb",
    validation="validation/items",
    config_section="embed_items",
    config=ItemEmbedConfig,
)


@component
def embed_items(
    data: Input[Dataset],
    config: str,
    representation_cache: str,
    embeddings: Output[Dataset],
    metrics: Output[Metrics],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """Item representations (eq. 1): encoder + contrastive alignment on co-occurring pairs;
    the encoder's vectors through the cache under `representation_cache` ("" = none)."""
    import json

    from aktrec.pipeline.steps import embed_items_step

    result = embed_items_step(
        data.path, embeddings.path, config, validation_report.path, validation_summary.path, representation_cache
    )
    metrics.log_metric("holdout_recall_at_10_before", result["holdout_recall@10_before"])
    metrics.log_metric("holdout_recall_at_10_after", result["holdout_recall@10_after"])
    # The file too: KFP's local cache treats an output whose file is missing as not cached.
    with open(metrics.path, "w") as out:
        json.dump(metrics.metadata, out)
