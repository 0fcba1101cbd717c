#!/usr/bin/env bash
# Installs what Agent Bus needs on a Debian 12 machine, or says exactly what to install.
# Usage: scripts/ensure-prerequisites.sh [run|test]   (test also needs Prometheus tooling)
set -euo pipefail

purpose="${1:-run}"
missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v redis-server >/dev/null || missing+=(redis-server)
# The AppHost runs the exporters beside Postgres and Redis in local mode (docs/observability.md).
command -v prometheus-postgres-exporter >/dev/null || missing+=(prometheus-postgres-exporter)
command -v prometheus-redis-exporter >/dev/null || missing+=(prometheus-redis-exporter)
if [ "$purpose" = test ]; then
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
  # tests/monitoring/helpers.py reads the monitoring YAML with PyYAML.
  python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
  # tests/AgentBus.UnitTests/Gpu/GpuCheckTests.cs builds a stand-in NVML library from C.
  command -v cc >/dev/null || missing+=(gcc)
  # The web app's browser tests: Debian's Chromium and its driver (Selenium), and npm for axe-core.
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  command -v npm >/dev/null || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Please install them first: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v dotnet >/dev/null; then
  echo "The .NET 10 SDK is missing: install dotnet-sdk-10.0 (https://learn.microsoft.com/dotnet/core/install/linux-debian), then run this again." >&2
  exit 1
fi
sdk_major=$(dotnet --version | cut -d. -f1)
if [ "$sdk_major" -lt 10 ]; then
  echo "The .NET SDK $(dotnet --version) is too old: install dotnet-sdk-10.0." >&2
  exit 1
fi

# axe-core (accessibility checks the browser tests inject), pinned by tests/browser/package-lock.json.
browser_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
if [ "$purpose" = test ] && [ ! -f "$browser_tests/node_modules/axe-core/axe.min.js" ]; then
  echo "Installing axe-core for the browser tests (npm ci in tests/browser)..."
  npm ci --prefix "$browser_tests" --no-audit --no-fund --loglevel=error >/dev/null
fi
