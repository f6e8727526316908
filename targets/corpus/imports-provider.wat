;; The host behaviour imports.wat's imports get with `--imports`: a register file read as a
;; function of its address, a log that counts its calls, and a host function with state.
(module
  (global $calls (mut i32) (i32.const 0))
  (global $acc (mut i32) (i32.const 7))
  (func (export "read32") (param i32) (result i32)
    (i32.add (i32.mul (local.get 0) (i32.const 2654435761)) (i32.const 1)))
  (func (export "env::log") (param i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
  (func (export "host_fn") (param i32 i32) (result i32)
    (global.set $acc (i32.add (i32.mul (global.get $acc) (i32.const 31))
                              (i32.sub (local.get 0) (local.get 1))))
    (global.get $acc)))
