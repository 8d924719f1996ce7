# Two entry points (see README): `make demo` runs the main job, `make test` runs the tests.
# Both create and reuse the virtual environment .venv by themselves.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# checkov (the manifests' security scan) pins its own dependencies: it gets its own venv.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

# The image (Dockerfile) and its Spark variant, built with podman (containers/).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= ghcr.io/aktrec/aktrec:$(VERSION)
SPARK_IMAGE ?= ghcr.io/aktrec/aktrec-spark:$(VERSION)
# A cluster build: make image BASE_IMAGE=docker.io/library/python:3.11-slim (no registry here).
BASE_IMAGE ?= localhost/aktrec-base:bookworm
export CONTAINERS_CONF := $(CURDIR)/containers/containers.conf

.PHONY: demo test test-unit system-packages rehearsal rehearsal-containers venv tools image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

venv: $(STAMP)

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "checkov>=3.2,<4"
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# redis-server, kubectl, Java 17 and Chromium, installed with apt when missing (scripts/system-packages.sh).
system-packages:
	bash scripts/system-packages.sh

demo: $(STAMP)
	$(VENV)/bin/aktrec demo --workdir work/demo

test: system-packages $(STAMP) $(TOOLS_STAMP) image
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q --durations=20

# The fast loop: the library's unit tests only (no servers, no pipeline runs).
test-unit: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m unit

# The cluster path on this machine: moto S3 + redis-server on 127.0.0.1, RAW from s3://, the
# release published to s3://, the predictor started from it (also part of `make test`).
rehearsal: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests/integration/test_cluster_path.py

image: system-packages
	IMAGE=$(IMAGE) SPARK_IMAGE=$(SPARK_IMAGE) BASE_IMAGE=$(BASE_IMAGE) bash containers/build-image.sh

# The cluster path in containers: every task in the image, the predictor and Spark images run
# as the cluster runs them (also part of `make test`).
rehearsal-containers: $(STAMP) image
	$(VENV)/bin/python -m pytest -q tests/container

clean:
	rm -rf $(VENV) $(TOOLS) work
