#!/usr/bin/env bash
# Installs the Debian packages the test suites need: a Docker engine, the distribution registry, skopeo.
# Does nothing when they are present; needs root (or sudo) otherwise.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
if [ ${#need[@]} -eq 0 ]; then
  echo "test packages present: docker.io docker-registry skopeo"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install ${need[*]} as root (apt-get install -y ${need[*]})" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
