#!/usr/bin/env bash
# locust/venv.sh — creates or updates the Python venv with Locust and the test tools
# (.stack/venv, or $BB_VENV) from locust/requirements.txt; a no-op when it is current.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BB_VENV:-$ROOT/.stack/venv}"
REQ="$ROOT/locust/requirements.txt"
STAMP="$VENV/.requirements.sha256"

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "[locust/venv.sh] preparing $VENV from $REQ"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  # lowest priority: `make bench` and `make test` compile meanwhile, and wait for that
  nice -n 19 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want" >"$STAMP"
fi
