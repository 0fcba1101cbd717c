#!/usr/bin/env bash
# Creates the secret files that k8s/secrets/kustomization.yaml reads, one per secret parameter of
# aspire-manifest.json, with random values where the model generates them (passwords) and empty
# files where a person must supply the value (e.g. an LLM API key). Existing files are kept:
# Postgres keeps the password it was initialised with. The files are git-ignored.
#
# Usage: scripts/make-dev-secrets.sh [DIR]      (default k8s/secrets)
#        kubectl apply -k k8s/secrets
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
dotnet run --project tools/AgentBus.Deploy -v quiet -- secrets --manifest aspire-manifest.json --dir "${1:-k8s/secrets}"
