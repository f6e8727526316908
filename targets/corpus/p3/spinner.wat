;; A saturating component: YIELDs `count` times (always ready), then returns count.
(module
  (import "$root" "[task-return]spin" (func $return (param i32)))
  (memory (export "memory") 1)
  (func (export "[async-lift]spin") (param $count i32) (result i32)
    (i32.store (i32.const 0) (local.get $count))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.const 1))
  (func (export "[callback][async-lift]spin")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1)))
    (if (i32.ge_u (i32.load (i32.const 4)) (i32.load (i32.const 0)))
      (then (call $return (i32.load (i32.const 0))) (return (i32.const 0))))
    (i32.const 1)))
