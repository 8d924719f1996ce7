"""The Kubeflow pipeline's library side: one step function per component, compile/run/submit."""

from aktrec import __version__

# The one image of every component and the predictor (built from the repository's Dockerfile).
IMAGE = f"ghcr.io/aktrec/aktrec:{__version__}"
# Its Spark variant (the Dockerfile's `spark` target), the image of SparkApplications.
SPARK_IMAGE = f"ghcr.io/aktrec/aktrec-spark:{__version__}"
