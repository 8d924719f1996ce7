#!/usr/bin/env bash
# A Debian bookworm base image (python3.11 with venv, CA certificates) made with debootstrap from
# the Debian mirror apt uses, for machines that reach no image registry. Tagged
# localhost/aktrec-base:bookworm; made once, reused while it exists.
set -euo pipefail
tag="${1:-localhost/aktrec-base:bookworm}"
podman image exists "$tag" && exit 0

mirror="$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
mirror="${mirror:-http://deb.debian.org/debian}"
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "making the base image $tag with debootstrap from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" >/dev/null \
  || { echo "debootstrap failed (mirror $mirror)" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base image $tag: $(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=iec)"
