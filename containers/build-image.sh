#!/usr/bin/env bash
# Build the aktrec image and its Spark variant with podman: `make image` (BASE_IMAGE, TORCH_INDEX
# and the tags come from the Makefile). On a machine whose pip reads a folder of local wheels
# (find-links; here the CPU torch wheel) and a CA bundle, both reach the build read-only; neither
# stays in the image.
set -euo pipefail
: "${IMAGE:?}" "${SPARK_IMAGE:?}" "${BASE_IMAGE:?}"
cd "$(dirname "$0")/.."

if [ "$BASE_IMAGE" = "localhost/aktrec-base:bookworm" ]; then
  bash containers/base-image.sh "$BASE_IMAGE"
fi

build=(podman build --network=host --layers --build-arg "BASE_IMAGE=$BASE_IMAGE")
wheels="$(python3 -m pip config get global.find-links 2>/dev/null || true)"
wheels="${PIP_FIND_LINKS:-$wheels}"
if [ -n "$wheels" ] && [ -d "$wheels" ]; then
  build+=(--volume "$wheels:/opt/host-wheels:ro" --build-arg PIP_FIND_LINKS=/opt/host-wheels)
  # A local CPU torch wheel: pip's own index with the folder, not the CPU wheel index.
  if [ -z "${TORCH_INDEX+set}" ] && compgen -G "$wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
    TORCH_INDEX=""
  fi
fi
[ -n "${TORCH_INDEX+set}" ] && build+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")
cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
# Otherwise the host's system trust store (it holds any CA an intercepting proxy needs).
[ -z "$cert" ] && [ -f /etc/ssl/certs/ca-certificates.crt ] && cert=/etc/ssl/certs/ca-certificates.crt
if [ -n "$cert" ] && [ -f "$cert" ]; then
  build+=(--volume "$cert:/opt/host-ca.crt:ro" --build-arg PIP_CERT=/opt/host-ca.crt)
fi

for target in aktrec spark; do
  tag="$IMAGE"; [ "$target" = spark ] && tag="$SPARK_IMAGE"
  started=$(date +%s)
  "${build[@]}" --target "$target" --tag "$tag" .
  echo "built $tag in $(( $(date +%s) - started ))s: $(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=iec)"
done
