from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.config import PrepareConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage("prepared data", artifact="data", config_section="prepare", config=PrepareConfig, after=("validate_raw",))


@component
def prepare(
    raw: Input[Dataset],
    raw_fingerprint: str,
    config: str,
    data: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """Split, negatives, head/tail flags and the data card (DATA), validated."""
    from aktrec.pipeline.steps import prepare_step

    prepare_step(raw.path, raw.uri, data.path, config, validation_report.path, validation_summary.path)
