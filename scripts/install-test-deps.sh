#!/usr/bin/env bash
# Installs the Debian packages the test suites need: a Docker engine (docker.io), the distribution
# registry (docker-registry), skopeo, and openssl (the token service's signing certificate).
# Does nothing when they are present; needs root (or sudo) otherwise.
#
# The packages' services are NOT started: the suites start private instances on loopback themselves
# (a packaged docker-registry would listen on :5000 on every interface, and a system dockerd would set
# up a bridge and iptables rules). A temporary policy-rc.d tells invoke-rc.d to leave them stopped.
set -euo pipefail
need=()
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then
  echo "test packages present: docker.io docker-registry skopeo openssl"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install ${need[*]} as root (apt-get install -y ${need[*]})" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing ${need[*]}"
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# added by install-test-deps.sh while it installs packages\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 0755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
# A source that cannot be reached must not stop the install of packages from the others.
$SUDO apt-get update -qq || echo "apt-get update reported errors; trying the install anyway" >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for c in dockerd docker-registry skopeo openssl; do
  command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "$c still missing after the install" >&2; exit 1; }
done
echo "installed ${need[*]}"
