#!/usr/bin/env bash
# Checks the gpu-agent's GPU telemetry on a machine with NVIDIA GPUs: reads every GPU through NVML
# (libnvidia-ml.so.1, as the agent does) and through nvidia-smi, prints both side by side, and exits
# non-zero when they disagree beyond tolerance (memory.total 1 MiB; memory.used 16 MiB or 1 %;
# utilization 10 points; temperature 2 C; power 10 W or 10 %; moving values are compared with
# nvidia-smi read just before and just after NVML).
#
# Usage:
#   scripts/gpu-check.sh                   build the gpu-agent here (.NET 10 SDK, NuGet) and run the check
#   scripts/gpu-check.sh --publish DIR     on any machine with the SDK: write a self-contained gpu-agent
#                                          to DIR (no .NET needed where it runs; ~115 MB)
#   scripts/gpu-check.sh --published DIR   run the check with a gpu-agent published by --publish
# Exit: 0 agree, 1 disagree, 2 NVML or nvidia-smi unusable, 3 the gpu-agent could not be built.
set -uo pipefail
cd "$(dirname "$0")/.."
project=src/AgentBus.GpuAgent

need_nvidia_smi() {
  if ! command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi not found: this check needs a machine with the NVIDIA driver (and, in a container," >&2
    echo "NVIDIA_DRIVER_CAPABILITIES including utility)." >&2
    exit 2
  fi
}

case "${1:-}" in
  --publish)
    [ -n "${2:-}" ] || { echo "usage: $0 --publish DIR" >&2; exit 3; }
    dotnet publish "$project" -c Release -r linux-x64 --self-contained -o "$2" -nologo -clp:ErrorsOnly || exit 3
    echo "Published to $2. On the GPU machine: $0 --published $2   (or: $2/AgentBus.GpuAgent --gpu-check)"
    exit 0
    ;;
  --published)
    [ -x "${2:-}/AgentBus.GpuAgent" ] || { echo "no gpu-agent at ${2:-}/AgentBus.GpuAgent (make one with --publish)" >&2; exit 3; }
    agent=("$2/AgentBus.GpuAgent")
    need_nvidia_smi
    ;;
  "")
    if ! command -v dotnet >/dev/null; then
      echo "The .NET 10 SDK is not installed here. Either install it, or run '$0 --publish DIR' on a machine" >&2
      echo "that has it, copy DIR here and run '$0 --published DIR'." >&2
      exit 3
    fi
    need_nvidia_smi
    echo "== building the gpu-agent (Release)"
    dotnet build "$project" -c Release -nologo -clp:ErrorsOnly || exit 3
    agent=(dotnet "$project/bin/Release/net10.0/AgentBus.GpuAgent.dll")
    ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 3
    ;;
esac

echo "== nvidia-smi"
nvidia-smi || true
echo "== NVML (gpu-agent) vs nvidia-smi"
"${agent[@]}" --gpu-check
status=$?
echo "== gpu-check exit code: $status"
exit "$status"
