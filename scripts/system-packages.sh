#!/usr/bin/env bash
# The system programs the tests use, installed with apt when missing (as root, or with sudo that
# needs no password); otherwise one line naming what is missing, and exit 1.
#   redis-server  Feast's Redis online store (the tests start it on 127.0.0.1)
#   kubectl       `kubectl kustomize` builds the manifests offline
#   java          Java 17: the Spark feature engine's parity tests run PySpark in local mode
#   chromium      renders the Data Docs and the run report with the network off
#   podman, buildah, runc, debootstrap
#                 build the image (`make image`, from a local Debian base) and run the container
#                 tests; podman's settings are containers/containers.conf
set -euo pipefail

required=(redis-server:redis-server kubectl:kubectl java:openjdk-17-jre-headless chromium:chromium
  podman:podman buildah:buildah runc:runc debootstrap:debootstrap)
missing=()
for entry in "${required[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  apt_get=(apt-get)
elif sudo -n true 2>/dev/null; then
  apt_get=(sudo -n apt-get)
else
  echo "system packages missing: ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  "${apt_get[@]}" update -q >/dev/null
  "${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "system packages could not be installed: ${missing[*]}" >&2; exit 1; }
fi
