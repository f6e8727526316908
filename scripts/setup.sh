#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: apt packages, rustup targets, the pinned synth.
# Safe to run again: every step checks first and does nothing when already satisfied.
set -euo pipefail

SYNTH_VERSION="0.89.0"
# The twin-ui window: X11 client libraries, Mesa (OpenGL for the glow renderer), and Xvfb for
# headless runs and screenshots.
APT_PACKAGES=(cmake libclang-dev pkg-config build-essential libfontconfig1-dev fonts-dejavu-core
  libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 libgl1 libegl1 libgl1-mesa-dri
  xvfb xauth python3
  gdb-multiarch  # the GDB server tests (tests/gdb.rs)
  slurm-wlm munge)  # a one-node Slurm for the `sim sweep slurm` test (scripts/slurm-local.sh)

log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root for: $*"; return 1; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's libunicorn-dev would be picked up by pkg-config and link the old 2.0.1 (unicorn.md).
if dpkg-query -W -f='${Status}' libunicorn-dev 2>/dev/null | grep -q "install ok installed"; then
  log "error: libunicorn-dev is installed; remove it (apt-get remove libunicorn-dev)"
  exit 1
fi

for t in thumbv7em-none-eabihf wasm32-unknown-unknown; do
  if ! rustup target list --installed | grep -qx "$t"; then
    log "rustup: adding target $t"
    rustup target add "$t"
  fi
done

have_synth=""
if command -v synth >/dev/null 2>&1; then
  have_synth="$(synth --version 2>/dev/null | awk '{print $NF}')"
fi
if [ "$have_synth" != "$SYNTH_VERSION" ]; then
  log "cargo: installing synth-cli $SYNTH_VERSION (a few minutes)"
  cargo install synth-cli --locked --version "$SYNTH_VERSION" --quiet
fi
log "ready"
