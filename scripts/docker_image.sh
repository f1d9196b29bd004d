#!/usr/bin/env bash
# Make Docker work offline on this machine and build both images from the Dockerfile:
#   nlpgrade-worker  the docker sandbox backend's worker (CPU torch, no grader, no reference)
#   nlpgrade         the full grading image: docker run --rm -v "$PWD/subs:/subs:ro" nlpgrade grade /subs
# No registry is needed: the base is debootstrapped locally, the wheels come from .venv
# (the grading environment of constraints/grading.txt) and the torch wheel on disk.
#   REBUILD=1 scripts/docker_image.sh     # rebuild the images even if they exist
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${PY:-$REPO/.venv/bin/python}
BASE_TAG=${BASE_TAG:-nlpgrade-base:bookworm}
WORKER_IMAGE=${NLPGRADE_DOCKER_IMAGE:-nlpgrade-worker:latest}
GRADE_IMAGE=${NLPGRADE_GRADE_IMAGE:-nlpgrade:latest}
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

need_build=0
for image in "$WORKER_IMAGE" "$GRADE_IMAGE"; do
  docker image inspect "$image" >/dev/null 2>&1 || need_build=1
done
if [ "$need_build" = 1 ] || [ "${REBUILD:-0}" = 1 ]; then
  log "building $WORKER_IMAGE and $GRADE_IMAGE"
  CTX=$(mktemp -d)
  trap 'rm -rf "$CTX"' EXIT
  cp -r Dockerfile constraints reference rubrics "$CTX/"
  "$PY" -m tests.grading.wheelhouse "$CTX/wheels"
  "$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$CTX/dist" . 2>&1 \
    | grep -v "^WARNING: Location" || true
  ls "$CTX"/dist/nlpgrade-*.whl >/dev/null
  docker build --network none --target worker -t "$WORKER_IMAGE" "$CTX"
  docker build --network none -t "$GRADE_IMAGE" "$CTX"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^nlpgrade' || true
