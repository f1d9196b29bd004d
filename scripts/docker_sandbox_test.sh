#!/usr/bin/env bash
# Make Docker work offline on this machine, build the grading image, and run the sandbox
# contract tests with the docker backend (NLPGRADE_TEST_DOCKER=1).
#   scripts/docker_sandbox_test.sh            # everything
#   SKIP_TESTS=1 scripts/docker_sandbox_test.sh   # only engine + image
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
BASE_TAG=${BASE_TAG:-nlpgrade-base:bookworm}
IMAGE=${NLPGRADE_DOCKER_IMAGE:-nlpgrade:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { printf '\n== %s\n' "$*"; }

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (no iptables, no bridge: containers get --network none anyway)"
  nohup dockerd --iptables=false --ip-masq=false --bridge=none \
    >/var/log/nlpgrade-dockerd.log 2>&1 &
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null
fi

if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "debootstrapping $BASE_TAG (bookworm minbase + python3)"
  ROOTFS=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$ROOTFS" "$MIRROR" \
    >/tmp/nlpgrade-debootstrap.log
  tar -C "$ROOTFS" -c . | docker import - "$BASE_TAG"
  rm -rf "$ROOTFS"
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1 || [ "${REBUILD:-0}" = 1 ]; then
  log "building $IMAGE"
  CTX=$(mktemp -d)
  cp Dockerfile "$CTX/"
  # wheels for the image, from pip's own configuration (find-links /opt/wheels, local index)
  "$PY" -m pip download --quiet --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform any \
    -d "$CTX/wheels" torch==2.13.0 safetensors numpy
  docker build --network none -t "$IMAGE" "$CTX"
  rm -rf "$CTX"
fi

if [ "${SKIP_TESTS:-0}" != 1 ]; then
  log "sandbox contract tests with the docker backend"
  NLPGRADE_TEST_DOCKER=1 NLPGRADE_DOCKER_IMAGE="$IMAGE" NLPGRADE_TEST_BACKENDS=docker \
    "$PY" -m pytest -q tests/sandbox -p no:cacheprovider "$@"
fi
