"""Container entrypoint of the predictor: `aktrec serve` with the container's arguments."""

import sys

from aktrec.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
