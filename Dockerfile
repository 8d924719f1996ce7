# One image for every KFP component and for the KServe predictor (tag = package version).
#   docker build -t aktrec:0.1.0 .
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GX_ANALYTICS_ENABLED=false
WORKDIR /opt/aktrec

# CPU torch from the PyTorch index; GPU nodes use an image built with the CUDA index instead.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[all]"
COPY feature_repo ./feature_repo

RUN useradd --create-home --uid 1000 aktrec
USER aktrec
ENTRYPOINT ["aktrec"]
