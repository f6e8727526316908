#!/usr/bin/env bash
# The demo: set up the machine, build the twin and the reference flight stack, then fly the
# falcon SIL gate `stabilization` on the emulated RT1176: synth's ARM code for the estimator on
# the CM4 and the controller stages on the CM7, the vehicle-state through OCRAM and the MU.
# Extra arguments go to `sim` (e.g. --out DIR, --junit FILE); SCENARIO picks another scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd targets/flight-stack && cargo build --release --quiet)
cargo build --release --quiet -p sim
exec target/release/sim --scenario "${SCENARIO:-scenarios/stabilization.ron}" "$@"
