#!/usr/bin/env bash
# The desktop app: set up the machine, build the reference flight stack and twin-ui, and open
# it (the scenario list; pick `stabilization` and press Run). Arguments go to twin-ui, e.g.
# --scenario scenarios/hover-gusts.ron, --overlay OUT_DIR, --screenshot OUT.png --frames N.
# Without a display, run it under Xvfb: xvfb-run -a bash scripts/ui.sh --scenario ... --screenshot ...
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
(cd targets/flight-stack && cargo build --release --quiet)
cargo build --release --quiet -p twin-ui
exec target/release/twin-ui "$@"
