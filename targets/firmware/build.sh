#!/usr/bin/env bash
# Build the test firmware: fw-m7 with target-cpu=cortex-m7, fw-m4 with target-cpu=cortex-m4.
# Output: $TARGET_ROOT/{m7,m4}/thumbv7em-none-eabihf/release/<bin>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="${FW_TARGET_DIR:-$here/../../target/firmware}"
cd "$here"
for core in m7 m4; do
  CARGO_TARGET_DIR="$root/$core" \
  CARGO_ENCODED_RUSTFLAGS="-Ctarget-cpu=cortex-$core" \
    cargo build --release --quiet -p "fw-$core"
done
echo "$root"
