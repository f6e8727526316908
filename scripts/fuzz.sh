#!/usr/bin/env bash
# Coverage-guided fuzzing of everything the twin reads from a user (docs/fuzzing.md): builds
# the targets in fuzz/ with cargo-fuzz on a nightly toolchain (both installed here when
# missing) and runs each for at least RUNS executions (default 1,000,000) from its seed corpus
# in fuzz/seeds/TARGET, learning into fuzz/corpus/TARGET (not committed). A crash leaves its
# input in fuzz/artifacts/TARGET and fails the script; each one found becomes a regression test
# in the normal suite (tests/fuzz_inputs.rs). A summary line per target (date, target,
# result, executions, seconds, coverage) is appended to fuzz/runs.txt.
#
#   scripts/fuzz.sh                 # every target, 1M executions each
#   scripts/fuzz.sh trace elf       # these targets
#   RUNS=10000 scripts/fuzz.sh      # a quick pass
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-1000000}"
TIMEOUT="${TIMEOUT:-10}"      # seconds one input may run: the wall-clock watchdog
ALL=(trace hil_frame board_ron scenario_ron wasm elf link thumb)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Sanitizer none: the twin is safe Rust over Unicorn's C (which the instrumentation does not
# reach); coverage guidance and debug assertions (-a: overflow checks) are what find its bugs.
cargo +nightly fuzz build -s none -a 2>&1 | tail -3
summary=fuzz/runs.txt
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/run.log"
    start=$(date +%s)
    if cargo +nightly fuzz run -s none -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -runs="$RUNS" -timeout="$TIMEOUT" -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    elif grep -aq 'libFuzzer: run interrupted' "$log"; then
        status=interrupted
        failed=1
    else
        status=CRASH
        failed=1
    fi
    secs=$(( $(date +%s) - start ))
    # -a: a crash log holds the input's bytes.
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
    line="$(date -u +%F) $t: $status, ${execs:-?} executions in ${secs} s, coverage ${cov:-?} edges"
    echo "$line" | tee -a "$summary"
    [ "$status" = ok ] || { grep -aE 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 || true; }
done
exit $failed
