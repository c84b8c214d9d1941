#!/usr/bin/env bash
# The serving demo on the embedded default: local provider, SQLite state, the bundled replica_agent.
# Brings a service up from examples/serve/local.yaml, sends completions (plain and streamed) through its
# endpoint, shows `skyctl serve status`, takes the service down (a trap does it too when a step fails, so
# nothing is left running) and prints what the service cost.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=${SKYCTL_DEMO_NAME:-skyctl-demo}
trap 'echo "+ skyctl serve down $NAME"; skyctl serve down "$NAME" || true' ERR INT TERM

step() { echo "+ $*"; "$@"; }

step skyctl serve up examples/serve/local.yaml -n "$NAME"
ENDPOINT=$(skyctl serve status "$NAME" --endpoint)
echo "+ POST $ENDPOINT/v1/completions (plain, then streamed; the built-in tiny model is random, its text is noise)"
python - "$ENDPOINT" <<'PY'
import json
import sys

import httpx

url = sys.argv[1] + "/v1/completions"
body = {"prompt": "The cheapest GPU is", "max_tokens": 16}
reply = httpx.post(url, json=body, timeout=60).raise_for_status().json()
print(json.dumps(reply["choices"][0]["text"]), "| usage:", reply["usage"])
with httpx.stream("POST", url, json={**body, "stream": True}, timeout=60) as r:
    r.raise_for_status()
    events = [line for line in r.iter_lines() if line.startswith("data: ")]
print(f"streamed {len(events)} server-sent events, last: {events[-1]}")
PY
step skyctl serve status "$NAME"
step skyctl serve down "$NAME"
trap - ERR INT TERM
step skyctl serve status
step skyctl cost-report --service "$NAME" --since 1h
