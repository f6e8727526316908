#!/usr/bin/env bash
# The test suite, from a fresh machine: set-up, formatting and lint gates, then every test
# (unit, known-answer firmware runs, command line). The firmware is built by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all --check
# No module of a crate imports another in a circle (the crates' own graph is Cargo's to check).
python3 scripts/module-cycles.py sim/*/src twin-ui/src
cargo clippy --all-targets --quiet -- -D warnings
for d in targets/firmware targets/hil targets/p3-flight targets/corpus/rust fuzz; do (cd "$d" && cargo fmt --all --check); done
# Guests with a path dependency outside their own workspace: rustfmt on their sources.
rustfmt --edition 2021 --check targets/flight-stack/src/lib.rs targets/flight-demo/src/lib.rs targets/bump/src/lib.rs
cargo test --no-fail-fast
