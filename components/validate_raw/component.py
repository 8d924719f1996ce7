from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage("raw data", artifact="raw_validation", validation="")


@component
def validate_raw(
    raw: Input[Dataset],
    raw_fingerprint: str,
    validation: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """Check the RAW input (imported from its URI) against the data contract's suites (first
    gate of the run). `raw_fingerprint` changes with RAW's content, so a cached result is never
    reused for new data."""
    from aktrec.pipeline.steps import validate_raw_step

    validate_raw_step(raw.path, raw.uri, validation.path, validation_report.path, validation_summary.path)
