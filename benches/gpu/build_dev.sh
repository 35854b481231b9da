#!/usr/bin/env bash
# Builds the binaries benches/gpu/device_check.sh runs and copies them, stripped, into .dev/
# (ignored), so a device run can carry them: carry [".dev", ".gl"] (`.gl/` comes from the
# shared device prepare.sh). Run from the repository root on a machine with the toolchain.
set -euo pipefail
mkdir -p .dev
path_of() { # cargo's "Executable ... (target/release/deps/NAME-HASH)" line for $1
  grep -o "target/release/deps/$1-[0-9a-f]*" | tail -n 1
}
unit=$(cargo test --release --lib --no-run 2>&1 | tee /dev/stderr | path_of imprint)
it=$(cargo test --release --test it --no-run 2>&1 | tee /dev/stderr | path_of it)
cargo build --release --example gpu_speed
# The CLI with the default features (gpu included): a build without them may have been last.
cargo build --release --bin imprint
strip -o .dev/imprint-unit "$unit"
strip -o .dev/it "$it"
strip -o .dev/gpu_speed target/release/examples/gpu_speed
strip -o .dev/imprint target/release/imprint
ls -la .dev
du -sh .dev
