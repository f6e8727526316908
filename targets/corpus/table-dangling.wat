;; The shape of a cargo-component leaf: a funcref table whose entries name functions nothing
;; calls, one of which synth leaves out of its object: nothing calls it directly (and synth
;; declines its f32.ceil on every target anyway). Nothing dispatches through the table
;; (synth refuses an object whose dispatched table cannot be populated), so the entry is
;; never reached; the twin still gives it a stub that would stop a call and name it.
(module
  (type $un (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table 3 funcref)
  (func $ceil (type $un)
    (i32.trunc_sat_f32_s (f32.ceil (f32.div (f32.convert_i32_s (local.get 0)) (f32.const 2)))))
  (func $twice (type $un) (i32.add (local.get 0) (local.get 0)))
  (elem (i32.const 1) func $twice $ceil)
  (func (export "twice") (param i32) (result i32) (call $twice (local.get 0)))
  (func (export "keep") (param $x i32)
    (i32.store (i32.const 64) (call $twice (local.get $x)))))
