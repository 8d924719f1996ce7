from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.pipeline import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
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
