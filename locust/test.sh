#!/usr/bin/env bash
# locust/test.sh — the Locust tests. `make test-locust` runs it with the stack up and .stack/env
# sourced. Creates/updates the venv .stack/venv from locust/requirements.txt (idempotent), then
# runs pytest on locust/tests/. Extra arguments go to pytest (e.g. -k seed -x).
#
# Environment: BROKERBENCH_BIN (default ${CARGO_TARGET_DIR:-target}/debug/brokerbench),
# NATS_URL, MONGODB_URI (from .stack/env).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BB_VENV:-$ROOT/.stack/venv}"

if [[ -f $ROOT/.stack/env && -z ${MONGODB_URI:-} ]]; then
  # shellcheck disable=SC1091
  . "$ROOT/.stack/env"
fi

"$ROOT/locust/venv.sh"

cd "$ROOT"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$ROOT/locust/tests" "$@"
