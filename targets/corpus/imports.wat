;; A module whose imports the twin has no host function for (the shapes of `env::log`,
;; `env::read32` and `env::host_fn` in other wasm-to-ARM test suites): `sim diff` serves them
;; from imports-provider.wat (`--imports`), or stubs them (`--stub-imports trap|zero`).
(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "read32" (func $read32 (param i32) (result i32)))
  (import "env" "host_fn" (func $host_fn (param i32 i32) (result i32)))
  (memory 1)
  ;; Reads two "registers" through the host and stores their sum.
  (func (export "sum_regs") (param i32) (result i32)
    (local i32)
    (local.set 1 (i32.add (call $read32 (local.get 0))
                          (call $read32 (i32.add (local.get 0) (i32.const 4)))))
    (i32.store (i32.const 64) (local.get 1))
    (call $log (local.get 1))
    (local.get 1))
  ;; The host keeps state: each call's answer depends on the calls before.
  (func (export "twice") (param i32 i32) (result i32)
    (i32.xor (call $host_fn (local.get 0) (local.get 1))
             (call $host_fn (local.get 1) (local.get 0))))
  ;; Calls no import.
  (func (export "plain") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))
