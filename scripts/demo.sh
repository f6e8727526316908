#!/usr/bin/env bash
# The demo: set up the machine, build the twin and the test firmware, and run the dual-core
# MU ping-pong (the CM7 releases the CM4 through SRC; 1000 round trips with interrupts both ways).
# Extra arguments go to `sim run` (e.g. --json, --for 1s).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fw="$(bash targets/firmware/build.sh)"
cargo build --release --quiet -p sim
exec target/release/sim run \
  --m7 "$fw/m7/thumbv7em-none-eabihf/release/pingpong" \
  --m4 "$fw/m4/thumbv7em-none-eabihf/release/pingpong" "$@"
