;; A stack overflow, named the same on both sides: `forever` recurses with no end, so
;; wasmtime stops with StackOverflow and synth's code runs through the core's stack (32 KiB,
;; no guard region) into what lies below it; the twin sees the stack's last painted word
;; overwritten and reports StackOverflow too. `depth` recurses as deep as its argument (capped
;; at 100): well inside both stacks, it returns on both.
(module
  (memory 1)
  (func $forever (export "forever") (param i32) (result i32)
    (i32.add (call $forever (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (i32.and (local.get 0) (i32.const 127)))
      (then (i32.const 0))
      (else
        (i32.add
          (call $depth (i32.sub (i32.and (local.get 0) (i32.const 127)) (i32.const 1)))
          (i32.const 1))))))
