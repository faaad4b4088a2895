#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh machine: the Debian
# registry server and skopeo (used by the tests as real peers), then the npm
# workspace dependencies. Safe to run again; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${missing[*]} with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# Compile the workspaces (turbo caches it) so the ecr-replicate bin and the demo can run.
npx turbo run build --output-logs=errors-only >/dev/null || { echo "setup: build failed: run npx turbo run build" >&2; exit 1; }
echo "setup: ready (node $(node --version), $(docker-registry --version 2>&1 | awk '{print $NF}'), skopeo $(skopeo --version | awk '{print $3}'))"
