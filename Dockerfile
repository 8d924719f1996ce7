# One image for every KFP component and for the KServe predictor (tag = package version).
#   docker build -t aktrec:0.1.0 .
# and its Spark variant for SparkApplications (features.spark_application):
#   docker build --target spark -t aktrec-spark:0.1.0 .
FROM python:3.11-slim AS aktrec

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GX_ANALYTICS_ENABLED=false
WORKDIR /opt/aktrec

# CPU torch by default. The GPU image (`aktrec pipeline compile --gpu-image IMAGE` puts
# embed-items, embed-users and train on it) is the same build from a CUDA wheel index:
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t aktrec-cuda:0.1.0 .
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX}" torch==2.13.0
COPY pyproject.toml README.md ./
COPY src ./src
# Installed into the package as aktrec.components / aktrec.pipelines / aktrec.manifests.
COPY components ./components
COPY pipelines ./pipelines
COPY manifests ./manifests
RUN pip install ".[all]"

# Non-root (a numeric uid, so `runAsNonRoot` can verify it). The default command is the
# predictor; KFP components replace the command with their own `aktrec` call.
RUN useradd --create-home --uid 10001 aktrec
USER 10001
EXPOSE 8080 8081
ENTRYPOINT ["aktrec"]
CMD ["serve", "--model", "/mnt/models/model", "--repo", "/mnt/models/feature_repo", "--host", "0.0.0.0"]

# The SparkApplication image: the same package, Java, and Spark's own entrypoint (it starts the
# driver and the executors; the operator passes their arguments) over pyspark's Spark.
FROM aktrec AS spark
USER root
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini procps \
    && rm -rf /var/lib/apt/lists/*
COPY --from=spark:4.0.1-scala2.13-java17-ubuntu /opt/entrypoint.sh /opt/decom.sh /opt/
# The file the driver runs (aktrec.pipeline.launch.SPARK_MAIN): the `aktrec` command line.
RUN ln -s "$(python -c 'import aktrec, os; print(os.path.dirname(aktrec.__file__))')/__main__.py" /opt/aktrec/aktrec_main.py
ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark PYSPARK_PYTHON=python
USER 10001
ENTRYPOINT ["/opt/entrypoint.sh"]
CMD []
