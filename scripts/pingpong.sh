#!/usr/bin/env bash
# Bare-metal firmware on both cores: the CM7 releases the CM4 through SRC and they play 1000
# rounds of MU ping-pong with interrupts both ways. Extra arguments go to `sim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fw="$(bash targets/firmware/build.sh)"
cargo build --release --quiet -p sim
exec target/release/sim run \
  --m7 "$fw/m7/thumbv7em-none-eabihf/release/pingpong" \
  --m4 "$fw/m4/thumbv7em-none-eabihf/release/pingpong" "$@"
