from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.pipeline import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
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
