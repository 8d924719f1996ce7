from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.config import SemanticIdConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage(
    "semantic IDs",
    artifact="sid",
    config_section="semantic_ids",
    config=SemanticIdConfig,
)


@component
def semantic_ids(
    data: Input[Dataset],
    embeddings: Input[Dataset],
    config: str,
    semantic_ids: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """RQ-VAE semantic IDs and clusters for items and users (eq. 3)."""
    from aktrec.pipeline.steps import semantic_ids_step

    semantic_ids_step(
        data.path, embeddings.path, semantic_ids.path, config, validation_report.path, validation_summary.path
    )
