"""The file a SparkApplication's driver runs (`launch.SPARK_MAIN` links here in the image):
the `aktrec` command line with the application's arguments, in spark-submit's session."""

import sys

from aktrec.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
