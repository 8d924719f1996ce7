from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.config import UserEmbedConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage(
    "user embeddings",
    artifact="emb",
    validation="validation/users",
    config_section="embed_users",
    config=UserEmbedConfig,
    reads={"item_embeddings": "embed_items.embeddings"},
    replaces=("embed_items",),  # its EMB holds both halves: later stages read it
)


@component
def embed_users(
    data: Input[Dataset],
    item_embeddings: Input[Dataset],
    config: str,
    representation_cache: str,
    embeddings: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """User representations (eq. 2): the interest-token model; EMB with both halves; frozen
    interest states through the cache under `representation_cache` ("" = none)."""
    from aktrec.pipeline.steps import embed_users_step

    embed_users_step(
        data.path,
        item_embeddings.path,
        embeddings.path,
        config,
        validation_report.path,
        validation_summary.path,
        representation_cache,
    )
