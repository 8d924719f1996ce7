"""The Kubeflow pipeline's library side: one step function per component, compile/run/submit."""

import os
from pathlib import Path

from aktrec import __version__
from aktrec.errors import AktrecError

# The one image of every component and the predictor (built from the repository's Dockerfile).
IMAGE = f"ghcr.io/aktrec/aktrec:{__version__}"
PIPELINE_FILE = Path("pipelines") / "aktrec_pipeline.py"


def project_root() -> Path:
    candidates = [Path(os.environ["AKTREC_PROJECT_ROOT"])] if os.environ.get("AKTREC_PROJECT_ROOT") else []
    candidates += [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / PIPELINE_FILE).is_file():
            return candidate
    raise AktrecError(
        f"cannot find {PIPELINE_FILE} (the KFP components and pipeline): run from the aktrec "
        "repository or set AKTREC_PROJECT_ROOT"
    )
