#!/usr/bin/env bash
# Speed and memory on one accelerator, in one short run:
#   throughput (the few-dimensions grid and the main grid, ULA and MALA, key
#   schemes side by side), the device scaling check, and peak memory.
# Writes benchmarks/results/*_gpu.{json,md,png}; each table names the device,
# and every throughput figure is also given as a fraction of the
# memory-bandwidth bound (bytes an ideal fused step moves per chain-step, see
# throughput.py's bytes_per_chain_step, over the device's bandwidth).
#
# Usage: bash benchmarks/device.sh [--quick] [BANDWIDTH_BYTES_PER_S]
#   BANDWIDTH defaults to 3.35e12 (H100 SXM, HBM3); an H100 PCIe has 2.0e12,
#   an H200 4.8e12.
#   --quick: small grids and few repeats (minutes), to check the script; it
#   writes *_gpu_quick.* instead.
# Run from anywhere; the Python is PYTHON, else the repository's .venv, else `python`.
set -euo pipefail

QUICK=0
if [[ "${1:-}" == "--quick" ]]; then
    QUICK=1
    shift
fi
BANDWIDTH="${1:-3.35e12}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    PYTHON=python
    if [[ -x "$HERE/../.venv/bin/python" ]]; then
        PYTHON="$HERE/../.venv/bin/python"
    fi
fi
cd "$HERE"

SUFFIX=_gpu
if [[ $QUICK == 1 ]]; then
    SUFFIX=_gpu_quick
    WORK=(--work 2e5 --repeats 2)
    SMALL=(1x1000 3x10000)
    MAIN=(2x10000)
else
    WORK=(--work 2e8 --repeats 7)
    SMALL=(small)
    MAIN=(2x10000 100x1000 1000x100 10x1)
fi

echo "== device"
"$PYTHON" -c 'import jax; d = jax.devices()[0]; print(jax.default_backend(), d.device_kind, jax.device_count(), "device(s)")'

echo "== throughput, few dimensions (ULA, MALA; the keys, the per-chain-keyed hash and legacy keys; the ablation)"
"$PYTHON" throughput.py --grid "${SMALL[@]}" --kernels ula mala --keys counter keyed legacy \
    --ablation --bandwidth "$BANDWIDTH" "${WORK[@]}" --name "throughput_small_dims$SUFFIX"

echo "== throughput, main grid"
"$PYTHON" throughput.py --grid "${MAIN[@]}" --bandwidth "$BANDWIDTH" "${WORK[@]}" \
    --name "throughput$SUFFIX"

# devices.py emulates 4 CPU devices (it sets JAX_PLATFORMS=cpu): it checks that
# chains split over devices cost no more than on one, which one GPU cannot show.
echo "== scaling: skipped on one accelerator (devices.py measures emulated CPU devices)"
if [[ "$("$PYTHON" -c 'import jax; print(jax.device_count())')" -gt 1 ]]; then
    echo "   (several devices here: run devices.py by hand; it still uses emulated CPU devices)"
fi

# memory.py writes results/memory.*: keep the CPU files, rename the device's.
echo "== memory"
KEEP="$(mktemp -d)"
trap 'rm -rf "$KEEP"' EXIT
cp results/memory.* "$KEEP"/ 2>/dev/null || true
if [[ $QUICK == 1 ]]; then
    "$PYTHON" memory.py --quick
else
    "$PYTHON" memory.py
fi
for ext in json md png; do
    if [[ -f "results/memory.$ext" ]]; then
        mv "results/memory.$ext" "results/memory$SUFFIX.$ext"
    fi
done
cp "$KEEP"/memory.* results/ 2>/dev/null || true
cat "results/memory$SUFFIX.md"

echo "== written"
ls -1 results/*"$SUFFIX".*
