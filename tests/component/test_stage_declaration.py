"""A stage is two files. In a copy of the package, as a developer would add it, a feature audit
stage is its run function (with its settings) appended to `aktrec/features/stage.py` and its
component in `components/audit_features/component.py`, nothing else. The pipeline wires it after
the stage whose output it reads and gains its `audit_features_config` parameter, `aktrec
pipeline run --config` takes its section, and its component runs it and writes its validation
pages."""

from __future__ import annotations

import json

from conftest import copy_package, run_on_copy

RUN_FUNCTION = '''
from aktrec.config import settings


@settings
class FeatureAuditConfig:
    max_null_share: float = 0.0  # the share of user activity rows allowed to lack their exposures


def run_feature_audit(data: Path, feature_repo: Path, out: Path, config: FeatureAuditConfig) -> dict:
    """The user activity table checked by a GX suite, its summary and Data Docs in `out`."""
    import pandas as pd

    from aktrec.validation.runner import SuiteSpec, gx_expectations, run_suites

    frame = pd.read_parquet(Path(feature_repo) / "data" / "user_activity.parquet")
    not_null = gx_expectations().ExpectColumnValuesToNotBeNull(column="exposures", mostly=1 - config.max_null_share)
    run_suites("audit_features", [SuiteSpec("audit_features.user_activity", frame, [not_null])], Path(out))
    return {"rows": len(frame)}
'''

COMPONENT = '''from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.features.stage import FeatureAuditConfig
from aktrec.pipeline import IMAGE
from aktrec.pipeline.stages import Stage

STAGE = Stage("feature audit", artifact="feature_audit", validation="", config_section="audit_features",
              config=FeatureAuditConfig)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def audit_features(
    data: Input[Dataset],
    feature_repo: Input[Dataset],
    config: str,
    feature_audit: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """The materialized user activity, audited."""
    from aktrec.features.stage import run_feature_audit
    from aktrec.pipeline.steps import run_step

    run_step("audit_features", run_feature_audit, (data.path, feature_repo.path), feature_audit.path, config,
             validation_report.path, validation_summary.path)
'''

# Runs on the copy: the stages, the compiled pipeline, the config sections, the component itself.
SCRIPT = """
import json, sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from aktrec.components.audit_features.component import audit_features
from aktrec.errors import AktrecError
from aktrec.pipeline.runner import compile_pipeline
from aktrec.pipeline.stages import training_stages
from aktrec.pipeline.steps import split_config

planted, out = Path(sys.argv[1]), Path(sys.argv[2])
stages = {stage.name: stage for stage in training_stages()}
spec = next(yaml.safe_load_all(compile_pipeline(out / "pipeline.yaml").read_text()))  # then the platform spec
sections = split_config("audit_features: {max_null_share: 0.1}\\n")
try:
    split_config("audit_features: {max_nul_share: 0.1}\\n")
    typo = None
except AktrecError as exc:
    typo = str(exc)
artifact = lambda path: SimpleNamespace(path=str(path), uri=str(path))
audit_features.python_func(
    data=artifact(planted / "data"),
    feature_repo=artifact(planted / "repo"),
    config=sections["audit_features"],
    feature_audit=artifact(out / "audit"),
    validation_report=artifact(out / "page.html"),
    validation_summary=artifact(out / "page.md"),
)
print(json.dumps({
    "package": __import__("aktrec").__file__,
    "order": list(stages),
    "sources": stages["audit_features"].sources,
    "task": spec["root"]["dag"]["tasks"]["audit-features"],
    "parameters": sorted(spec["root"]["inputDefinitions"]["parameters"]),
    "section": sections["audit_features"],
    "typo": typo,
}))
"""


def test_a_new_stage_is_its_run_function_and_its_component(planted_emb, planted_repo, tmp_path):
    package = copy_package(tmp_path)
    with open(package / "features" / "stage.py", "a") as stage_module:  # the first file
        stage_module.write(RUN_FUNCTION)
    (package / "components" / "audit_features").mkdir()
    (package / "components" / "audit_features" / "component.py").write_text(COMPONENT)  # the second

    report = run_on_copy(tmp_path, SCRIPT, str(planted_emb), str(tmp_path))

    # Wired by the names of its inputs, after the stage it reads from.
    assert report["sources"] == {"data": "prepare.data", "feature_repo": "materialize_features.feature_repo"}
    assert report["order"].index("audit_features") > report["order"].index("materialize_features")
    inputs = report["task"]["inputs"]
    assert inputs["artifacts"]["feature_repo"]["taskOutputArtifact"] == {
        "outputArtifactKey": "feature_repo",
        "producerTask": "materialize-features",
    }
    assert inputs["parameters"]["config"]["componentInputParameter"] == "audit_features_config"
    assert "audit_features_config" in report["parameters"]

    # Its config section is read and checked like every other.
    assert report["section"] == "max_null_share: 0.1\n"
    assert "max_nul_share" in report["typo"]

    # Its component ran it: the suite's summary, and the pages from it.
    summary = json.loads((tmp_path / "audit" / "summary.json").read_text())
    assert summary["success"] and summary["suites"]["audit_features.user_activity"]["n_rows"] > 0
    assert "| audit_features.user_activity |" in (tmp_path / "page.md").read_text()
    assert "Validation: feature audit" in (tmp_path / "page.html").read_text()
