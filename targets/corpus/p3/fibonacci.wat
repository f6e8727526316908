;; P3 callback-mode component (meld's lowering): fibonacci(n), one iteration per callback.
;; State lives in linear memory between callbacks: n at 0, a at 4, b at 8.
(module
  (import "$root" "[task-return]fibonacci" (func $return (param i32)))
  (memory (export "memory") 1)
  (func (export "[async-lift]fibonacci") (param $n i32) (result i32)
    (i32.store (i32.const 0) (local.get $n))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (i32.const 1))
    (i32.const 1))                                   ;; YIELD
  (func (export "[callback][async-lift]fibonacci")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (local $a i32)
    (if (i32.eqz (i32.load (i32.const 0)))
      (then (call $return (i32.load (i32.const 4)))
            (return (i32.const 0))))                 ;; EXIT
    (local.set $a (i32.load (i32.const 4)))
    (i32.store (i32.const 4) (i32.load (i32.const 8)))
    (i32.store (i32.const 8) (i32.add (local.get $a) (i32.load (i32.const 8))))
    (i32.store (i32.const 0) (i32.sub (i32.load (i32.const 0)) (i32.const 1)))
    (i32.const 1)))
