"""The generic Great Expectations runner: suites run on frames, Data Docs written, failures named.

Each domain owns its suites beside its code (`data/checks.py`, `embed/checks.py`,
`semantic_ids/checks.py`, `features/checks.py`, `ctr/gate.py`); this package imports none of them.
"""

from aktrec.validation.runner import (
    SuiteSpec,
    ValidationReport,
    failed_docs_dir,
    gx_expectations,
    key_expectations,
    run_suites,
)

__all__ = ["SuiteSpec", "ValidationReport", "failed_docs_dir", "gx_expectations", "key_expectations", "run_suites"]
