;; Register access through imports (`env::mmio_read32` / `mmio_write32`, the shape of
;; hardware-access imports in other wasm-to-ARM suites): with `--imports bus` they reach the
;; core's bus, here GPIO1 (0x4012_C000: DR at +0, GDIR at +4; rt1176.md 3.5). `sim diff` runs
;; them on the ARM side's peripheral models and has wasmtime replay the same accesses.
(module
  (import "env" "mmio_read32" (func $rd (param i32) (result i32)))
  (import "env" "mmio_write32" (func $wr (param i32 i32)))
  ;; Every pin an output, DR written, DR read back.
  (func (export "drive") (param i32) (result i32)
    (call $wr (i32.const 0x4012c004) (i32.const -1))
    (call $wr (i32.const 0x4012c000) (local.get 0))
    (call $rd (i32.const 0x4012c000)))
  ;; GDIR as last written.
  (func (export "direction") (result i32) (call $rd (i32.const 0x4012c004))))
