;; A component with long callbacks: each callback burns `work` loop iterations (a few fuel
;; each), then YIELDs; after `rounds` callbacks it returns rounds. It keeps its core busy so
;; that interrupts arriving meanwhile are taken together between callbacks.
(module
  (import "$root" "[task-return]busy" (func $return (param i32)))
  (memory (export "memory") 1)
  (func (export "[async-lift]busy") (param $rounds i32) (param $work i32) (result i32)
    (i32.store (i32.const 0) (local.get $rounds))
    (i32.store (i32.const 4) (local.get $work))
    (i32.store (i32.const 8) (i32.const 0))
    (i32.const 1))
  (func (export "[callback][async-lift]busy")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (local $i i32)
    (local.set $i (i32.load (i32.const 4)))
    (block $done
      (loop $burn
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $burn)))
    (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (if (i32.ge_u (i32.load (i32.const 8)) (i32.load (i32.const 0)))
      (then (call $return (i32.load (i32.const 0))) (return (i32.const 0))))
    (i32.const 1)))
