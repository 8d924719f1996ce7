"""The Kubeflow pipeline's library side: one step function per component, compile/run/submit."""

from aktrec import __version__

# The one image of every component and the predictor (built from the repository's Dockerfile).
IMAGE = f"ghcr.io/aktrec/aktrec:{__version__}"
# Its Spark variant (the Dockerfile's `spark` target), the image of SparkApplications.
SPARK_IMAGE = f"ghcr.io/aktrec/aktrec-spark:{__version__}"


def component(function):
    """A KFP lightweight component on the aktrec image (which holds every dependency: no package
    to install). Inside KFP's executor, where `kfp.dsl` holds the runtime types only, the plain
    function: a step reads the stages' declarations (`aktrec.pipeline.stages`) from their
    component modules there too. KFP compiles the function's source without its decorators."""
    from kfp import dsl

    if not hasattr(dsl, "component"):
        return function
    return dsl.component(base_image=IMAGE, install_kfp_package=False)(function)
