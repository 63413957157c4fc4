#!/usr/bin/env bash
# API conformance: Schemathesis against the embedded service, inside a network namespace that has
# only loopback, so no URL it generates (webhook targets included) can reach anything but this
# machine's loopback. Installs Schemathesis (pinned) into .tools/schemathesis on first use; that
# step, before the namespace, is the only one that uses the network.
#
#   bash scripts/schemathesis.sh      (npm run test:conformance)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
venv=.tools/schemathesis
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The Temporal CLI the service's embedded dev server runs (found now: inside, nothing can be fetched).
if [[ -z "${TEMPORAL_CLI_PATH:-}" ]]; then
  TEMPORAL_CLI_PATH="$(command -v temporal || true)"
  [[ -n "$TEMPORAL_CLI_PATH" ]] || TEMPORAL_CLI_PATH="$PWD/.tools/temporal/bin/temporal"
fi
export TEMPORAL_CLI_PATH
[[ -x "$TEMPORAL_CLI_PATH" ]] || { echo "no Temporal CLI at $TEMPORAL_CLI_PATH: run npm run setup:temporal" >&2; exit 1; }

# A new network namespace has a loopback interface (down) and nothing else. As root `unshare -n`
# makes one; otherwise `unshare -rn` maps us to root in a user namespace first.
if [[ "$(id -u)" -eq 0 ]]; then ns=(unshare --net); else ns=(unshare --map-root-user --net); fi
started=$(date +%s)
"${ns[@]}" bash -c '
  set -euo pipefail
  ip link set lo up
  if ip -o addr show | grep -v " lo " | grep -q inet; then echo "not loopback-only" >&2; exit 1; fi
  exec node --require tsx/cjs scripts/conformance.ts
'
echo "schemathesis conformance: $(($(date +%s) - started)) s"
