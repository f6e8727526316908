#!/usr/bin/env bash
# Target mode in one command (docs/target.md): set up, build the twin, the reference flight
# module and the HIL firmware, then fly the scenario three ways into runs/<scenario>/:
#   twin/    hosted on the twin (the reference),
#   <where>/ the HIL firmware, on the twin (`emulated`, the default) or on a board (`probe`),
#   compare/ `sim compare twin <where>`: per-signal differences, timing, gates, overlay plot.
# Exit code: the compare's (0 = within tolerance), or the failing run's.
#
#   bash scripts/hil.sh                        # the HIL firmware on the twin
#   bash scripts/hil.sh probe --flash          # load the firmware into a board's RAM and fly it
#   bash scripts/hil.sh probe --probe 1366:1015 --flash
#
# SCENARIO picks another scenario file; arguments after <where> go to `sim` for the target run.
set -euo pipefail
cd "$(dirname "$0")/.."
where="${1:-emulated}"
[ $# -gt 0 ] && shift
case "$where" in emulated|probe) ;; *) echo "usage: scripts/hil.sh [emulated|probe] [sim args]" >&2; exit 2;; esac
scenario="${SCENARIO:-scenarios/stabilization.ron}"
bash scripts/setup.sh
(cd targets/flight-stack && cargo build --release --quiet)
wasm=targets/flight-stack/target/wasm32-unknown-unknown/release/flight_stack.wasm
image="$(bash targets/hil/build.sh "$wasm")"
cargo build --release --quiet -p sim
runs="runs/$(basename "$scenario" .ron)"
mkdir -p "$runs"
sim=target/release/sim
status=0
"$sim" --scenario "$scenario" --out "$runs/twin" || status=$?
"$sim" --scenario "$scenario" --target "$where" --hil-image "$image" --out "$runs/$where" "$@" || status=$?
[ -f "$runs/$where/trace.csv" ] || exit "$((status == 0 ? 1 : status))"
"$sim" compare "$runs/twin" "$runs/$where" --scenario "$scenario" --out "$runs/compare" || status=$?
echo "runs in $runs: twin/, $where/, compare/ (compare.json, compare.png)"
exit "$status"
