;; The P3 error-context built-in synth 0.89 lowers (`error-context.drop`, a scalar handle op;
;; it declines `error-context.new`, which moves a string) as a fused module imports it
;; (`pulseengine:async`). `sim diff` serves it from a hub of each side's own: a handle that was
;; never made is an invalid handle on both sides (a trap), and `plain` calls nothing.
(module
  (import "pulseengine:async" "error-context.drop" (func $drop (param i32)))
  (func (export "drop_it") (param i32) (result i32)
    (call $drop (local.get 0))
    (i32.const 1))
  (func (export "plain") (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1))))
