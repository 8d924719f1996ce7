"""`python -m aktrec` = the `aktrec` console script."""

import sys

from aktrec.cli import main

sys.exit(main())
