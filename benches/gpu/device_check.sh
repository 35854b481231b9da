#!/usr/bin/env bash
# GPU host check: agreement tests and hash-stage timing, GPU vs all CPU cores, in one run.
#
# Builds nothing. Run from the repository root on the GPU host, with binaries built elsewhere
# and copied into .dev/ (see "Building the binaries" below):
#   .dev/imprint-unit   the library's unit-test binary   (cargo test --release --lib --no-run)
#   .dev/it             the integration-test binary      (cargo test --release --test it --no-run)
#   .dev/gpu_speed      the timing tool                  (cargo build --release --example gpu_speed)
#   .dev/imprint        the CLI, with the gpu feature    (cargo build --release)
#
# Usage: benches/gpu/device_check.sh LOG_DIR [gpu_speed arguments...]
# Default timing: 1 MP ×256 and 12 MP ×48 RGB images, best of 3, for each upload path (mapped
# staging, host memory copied by the device, host memory read in place); then, GPU only, the
# same sets with per-kernel device times (timestamp queries) for both implementations of the row
# passes (per-row and tiled), and with 64 and 256 MiB batch buffers, to show where the time
# goes, which row kernels and upload path to default to, and how batch size (and spreading a
# call over several batches, and streaming calls into one another) trades overlap against
# occupancy; last, `imprint hash` end to end on a generated dataset with the cpu and the gpu
# backend, printing hashes and then into a hash store (same output required each time). Full
# logs go to LOG_DIR; a short summary is printed last.
# Exit status: 0 when every step passed.
#
# Building the binaries (x86-64 Linux with the Rust toolchain): benches/gpu/build_dev.sh
# (release builds of the unit-test and integration-test binaries, gpu_speed and the imprint
# CLI, stripped into .dev/; the CLI test finds .dev/imprint when the build path is absent).

set -u
LOG=${1:?usage: benches/gpu/device_check.sh LOG_DIR [gpu_speed arguments...]}
shift
mkdir -p "$LOG"
BIN=${BIN:-.dev}

# Vulkan loader (the host has none): packages prepared into .gl/ by prepare.sh.
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ]; then
  export VK_DRIVER_FILES=$NV_ICD
fi
export REQUIRE_GPU=1
export RUST_BACKTRACE=1

status=0
step() { # name, command...
  local name=$1; shift
  local t0=$SECONDS
  if "$@" >"$LOG/$name.log" 2>&1; then r=ok; else r=FAILED; status=1; fi
  printf '%-12s %-6s %4ds  %s\n' "$name" "$r" $((SECONDS - t0)) "$LOG/$name.log" >>"$LOG/summary.txt"
}
: >"$LOG/summary.txt"
nproc >"$LOG/machine.txt"; uname -a >>"$LOG/machine.txt"
command -v nvidia-smi >/dev/null && nvidia-smi >>"$LOG/machine.txt" 2>&1

# IGNORED="" skips the long #[ignore]d cases (e.g. when trying the script on lavapipe).
IGNORED=${IGNORED---include-ignored}
step unit "$BIN/imprint-unit" gpu:: --test-threads=1 $IGNORED
step it "$BIN/it" gpu:: $IGNORED --nocapture
# SETS="--size 200x200:4" (say) makes the whole default run small enough to try on lavapipe.
SETS=${SETS:-"--size 1000x1000:256 --size 4000x3000:48"}
extra=0
if [ $# -eq 0 ]; then
  set -- $SETS --reps 3 --bandwidth-mib 1024 --upload mapped,host-copy,host-direct
  extra=1
fi
step speed "$BIN/gpu_speed" "$@"
if [ $extra = 1 ]; then
  step profile "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --profile \
    --upload mapped,host-copy,host-direct
  step tiled "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --profile \
    --row-kernels tiled --upload mapped,host-copy,host-direct
  for mib in 64 256; do
    step "batch$mib" "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --batch-mib $mib \
      --upload mapped,host-copy
  done
  step calls1 "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --batches-per-call 1 \
    --upload mapped,host-copy
  # The bulk pipeline's way: calls of 64 images, streamed; then the same calls, each waited for.
  step stream64 "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --stream 64 \
    --upload mapped,host-copy
  step calls64 "$BIN/gpu_speed" $SETS --reps 3 --bandwidth-mib 64 --no-cpu --calls 64 \
    --upload mapped,host-copy
fi
# End to end, the product's own run: a generated dataset (1 MP scenes, mostly PNG) hashed by
# `imprint hash` on all cores with each backend; the two outputs must be the same bytes.
# BULK="--originals 4 --distractors 8 --scene-width 320" (say) makes it small.
BULK=${BULK:-"--originals 200 --distractors 1000 --scene-width 1152"}
if [ $extra = 1 ] && [ -x "$BIN/imprint" ]; then
  DS=$(mktemp -d)
  step bulk_data "$BIN/imprint" bench make-dataset --out "$DS/set" --photos none $BULK
  export TIMEFORMAT="%R s wall, %U s user"
  for backend in cpu gpu; do
    step "bulk_$backend" bash -c "time '$BIN/imprint' hash '$DS/set' --backend $backend \
      >'$LOG/bulk_$backend.txt'"
  done
  step bulk_same cmp "$LOG/bulk_cpu.txt" "$LOG/bulk_gpu.txt"
  # The nightly job's way: into a hash store through the bulk pipeline (whose batch stage
  # streams decoded images to the GPU), with the crash journal; the records must match too.
  for backend in cpu gpu; do
    step "store_$backend" bash -c "time '$BIN/imprint' hash '$DS/set/references' \
      '$DS/set/queries' --backend $backend --out '$DS/$backend.imps' --no-progress"
    step "export_$backend" bash -c "'$BIN/imprint' store export '$DS/$backend.imps' \
      >'$LOG/store_$backend.csv'"
  done
  step store_same cmp "$LOG/store_cpu.csv" "$LOG/store_gpu.csv"
  rm -rf "$DS"
fi

echo "== agreement =="
grep -hE "^(conformance|differential|edges|tiled|Host)|bits differ|^test result|panicked" "$LOG/it.log" | head -40
echo "== steps =="
cat "$LOG/summary.txt"
echo "== hash stage =="
grep -E "^(adapter|host->device|\||H2D|no gpu|gpu failed|bandwidth probe)" "$LOG/speed.log"
if [ $extra = 1 ]; then
  echo "== where the time goes (GPU only, one compute pass per kernel) =="
  grep -E "^(\||profile|  )" "$LOG/profile.log"
  echo "== the same with the tiled row kernels =="
  grep -E "^(\||profile|  )" "$LOG/tiled.log"
  for mib in 64 256; do
    echo "== batch buffers of $mib MiB =="
    grep -E "^(adapter|\|)" "$LOG/batch$mib.log"
  done
  echo "== each call in as few batches as the limits allow (no overlap within a call) =="
  grep -E "^(adapter|\|)" "$LOG/calls1.log"
  echo "== calls of 64 images (the bulk pipeline's), streamed =="
  grep -E "^(adapter|\|)" "$LOG/stream64.log"
  echo "== the same calls, each waited for =="
  grep -E "^(adapter|\|)" "$LOG/calls64.log"
  echo "== end to end: imprint hash on a generated dataset, cpu then gpu backend =="
  tail -n 1 "$LOG/bulk_data.log"
  wc -l <"$LOG/bulk_cpu.txt"
  for backend in cpu gpu; do grep -E "wall" "$LOG/bulk_$backend.log"; done
  echo "== the same into a hash store (the bulk pipeline), cpu then gpu backend =="
  for backend in cpu gpu; do grep -E "wall|hashed" "$LOG/store_$backend.log"; done
fi
exit $status
