#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries for the test suite, which runs its own throwaway
# server (test/helpers/postgres.ts). Idempotent; the packaged cluster service is neither started
# nor needed.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin/initdb)"
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "install-postgres: run as root (or install the 'postgresql' package yourself)" >&2
  exit 1
fi

# Keep the package scripts from starting the default cluster: exit status 101 of policy-rc.d
# means "action forbidden" to invoke-rc.d.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
echo "PostgreSQL installed: $(ls -d /usr/lib/postgresql/*/bin/initdb)"
