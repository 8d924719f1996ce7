"""Great Expectations suites per stage and the runner that writes Data Docs."""

from aktrec.validation.runner import SuiteSpec, ValidationReport, run_suites
from aktrec.validation.suites import validate_prepared, validate_raw

__all__ = ["SuiteSpec", "ValidationReport", "run_suites", "validate_prepared", "validate_raw"]
