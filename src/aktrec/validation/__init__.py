"""The generic Great Expectations runner (`aktrec.validation.runner`): suites run on frames, Data
Docs written, failures named.

Each domain owns its suites beside its code (`data/checks.py`, `embed/checks.py`,
`semantic_ids/checks.py`, `features/checks.py`, `ctr/gate.py`); this package imports none of them.
"""
