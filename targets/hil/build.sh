#!/usr/bin/env bash
# Build the HIL firmware (docs/target.md): the flight module's .wasm -> synth's relocatable
# objects (cortex-m4f for the CM4, cortex-m7dp for the CM7) -> hil-m4 -> hil-m7, which carries
# hil-m4 and releases the CM4 itself. The image to load on a board (or the twin) is hil-m7.elf.
#
# Usage: targets/hil/build.sh [FLIGHT.wasm]   (default: targets/flight-stack, built here)
# Output: $HIL_OUT (default target/hil)/{hil-m7.elf, hil-fs-m7.elf (full system), hil-m4.elf, flight-*.o}
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${HIL_OUT:-$here/../../target/hil}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
wasm="${1:-}"
if [ -z "$wasm" ]; then
  (cd "$here/../flight-stack" && cargo build --release --quiet)
  wasm="$here/../flight-stack/target/wasm32-unknown-unknown/release/flight_stack.wasm"
fi
wasm="$(cd "$(dirname "$wasm")" && pwd)/$(basename "$wasm")"
synth="${RT_TWIN_SYNTH:-synth}"
for t in cortex-m4f cortex-m7dp; do
  "$synth" compile "$wasm" -t "$t" --all-exports --allow-skipped-exports --relocatable --embedder-data-init \
    --embedder-global-init --safety-bounds software -o "$out/flight-$t.o" >/dev/null
done
cd "$here"
build() { # core, object, output name, cargo features, extra env
  local core="$1" obj="$2" name="$3" features="$4"
  shift 4
  env "$@" HIL_WASM="$wasm" HIL_OBJECT="$obj" CARGO_TARGET_DIR="$out/build-$name" \
    CARGO_ENCODED_RUSTFLAGS="-Ctarget-cpu=cortex-$core" \
    cargo build --release --quiet -p "hil-$core" --features "$features"
  cp "$out/build-$name/thumbv7em-none-eabihf/release/hil-$core" "$out/$name.elf"
}
build m4 "$out/flight-cortex-m4f.o" hil-m4 ""
build m7 "$out/flight-cortex-m7dp.o" hil-m7 "" HIL_M4_ELF="$out/hil-m4.elf"
# The full-system build (docs/full-system.md): the same CM4 image, the CM7's drivers.
build m7 "$out/flight-cortex-m7dp.o" hil-fs-m7 devices HIL_M4_ELF="$out/hil-m4.elf"
echo "$out/hil-m7.elf"
