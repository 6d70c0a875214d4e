#!/usr/bin/env bash
# compose/validate.sh — validate every compose file without a Docker engine (`make test` runs it):
# `docker-compose config -q` for each file alone and with monitoring.yml (--profile monitoring),
# then compose/validate.py checks environment names against `brokerbench ingress|subscriber
# --help`, published ports against what each service listens on, and service addresses.
# Binary: BROKERBENCH_BIN (default ${CARGO_TARGET_DIR:-target}/debug/brokerbench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BB_VENV:-$ROOT/.stack/venv}"

if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1; then
  echo "[compose/validate.sh] installing docker-compose (Debian package)"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker-compose
fi

# the venv shared with locust/test.sh (pyyaml is pinned in locust/requirements.txt)
"$ROOT/locust/venv.sh"

cd "$ROOT"
exec "$VENV/bin/python" "$ROOT/compose/validate.py" "$@"
