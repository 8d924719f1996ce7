# One image for every KFP component and for the KServe predictor (tag = package version), and
# its Spark variant for SparkApplications (features.spark_application). `make image` builds both
# with podman (scripts/build-image.sh says how, and how a cluster build differs):
#   podman build --target aktrec -t ghcr.io/aktrec/aktrec:0.1.0 .
#   podman build --target spark  -t ghcr.io/aktrec/aktrec-spark:0.1.0 .
# BASE_IMAGE: any Debian-based image with python3.11 and its venv module; a cluster build uses
# the public python image, a machine without a registry a local Debian base
# (scripts/base-image.sh).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim

# The dependencies of aktrec[all], read from pyproject.toml. The next stage copies only this list:
# its layers are reused while the list is the same, whatever else in pyproject.toml changes.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml containers/image_requirements.py /tmp/deps/
RUN python3 /tmp/deps/image_requirements.py /tmp/deps/pyproject.toml all > /requirements.txt

FROM ${BASE_IMAGE} AS runtime
# libgomp1: LightGBM's OpenMP runtime (torch ships its own, LightGBM does not).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# A venv owned by root: the same paths on every base image, and nothing the non-root user may change.
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 GX_ANALYTICS_ENABLED=false

# CPU torch by default. TORCH_INDEX empty: pip's own index and PIP_FIND_LINKS (a folder of local
# wheels mounted at build time). The GPU image (`aktrec pipeline compile --gpu-image IMAGE` puts
# embed-items, embed-users and train on it) is the same build from a CUDA wheel index:
#   podman build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t aktrec-cuda:0.1.0 .
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# Build-time only (never in the image): a folder of local wheels and a CA bundle for pip.
ARG PIP_FIND_LINKS
ARG PIP_CERT
RUN pip install ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} torch==2.13.0

# The dependencies: this layer is reused while only code changes.
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# The package's wheel, built in a stage of its own so no source tree stays in the image.
FROM runtime AS wheel
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# Installed into the package as aktrec.components / aktrec.pipelines / aktrec.manifests.
COPY components ./components
COPY pipelines ./pipelines
COPY manifests ./manifests
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM runtime AS aktrec
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels
# Non-root (a numeric uid, so `runAsNonRoot` can verify it). HOME and every cache live under
# /tmp, the one writable path the manifests mount (the root file system is read-only there).
RUN useradd --no-create-home --home-dir /tmp --uid 10001 --user-group aktrec
ENV HOME=/tmp HF_HOME=/tmp/hf MPLCONFIGDIR=/tmp/matplotlib XDG_CACHE_HOME=/tmp/cache
WORKDIR /tmp
USER 10001
EXPOSE 8080 8081
# The default command is the predictor; KFP components replace the command with their own call.
ENTRYPOINT ["aktrec"]
CMD ["serve", "--model", "/mnt/models/model", "--repo", "/mnt/models/feature_repo", "--host", "0.0.0.0"]

# The SparkApplication image: the same package, Java, and an entrypoint that starts the driver
# or an executor the way the Spark operator asks (containers/spark-entrypoint.sh).
FROM aktrec AS spark
USER root
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini procps \
    && rm -rf /var/lib/apt/lists/*
COPY containers/spark-entrypoint.sh /opt/entrypoint.sh
# The file the driver runs (aktrec.pipeline.launch.SPARK_MAIN): the `aktrec` command line.
RUN mkdir -p /opt/aktrec \
    && ln -s "$(python -c 'import aktrec, os; print(os.path.dirname(aktrec.__file__))')/__main__.py" /opt/aktrec/aktrec_main.py
ENV SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark PYSPARK_PYTHON=/opt/venv/bin/python
USER 10001
ENTRYPOINT ["/opt/entrypoint.sh"]
CMD []
