#!/usr/bin/env bash
# Regenerates the Kubernetes manifests from the Aspire model:
#   k8s/base/                      one folder per resource, namespace, root kustomization
#   k8s/components/managed-data/   swap the in-cluster Postgres/Redis for managed services
#   k8s/secrets/kustomization.yaml the Secret's keys (values stay out of git)
# The overlays (k8s/overlays/*) are written by hand and kept.
#
# Usage: scripts/generate-k8s.sh                 from aspire-manifest.json as committed
#        scripts/generate-k8s.sh --from-apphost  first republish aspire-manifest.json from the AppHost
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--from-apphost" ]; then
  # The output path is relative to the AppHost folder.
  dotnet run --project src/AgentBus.AppHost -- --publisher manifest --output-path ../../aspire-manifest.json
fi
dotnet run --project tools/AgentBus.Deploy -v quiet -- generate --manifest aspire-manifest.json --out k8s
