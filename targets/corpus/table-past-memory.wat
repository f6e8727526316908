;; A funcref table (40,000 entries, 160 KB of code pointers) larger than the one-page memory
;; it aliases at R11: the region placed at R11 is the larger of the two.
(module
  (type $t (func (param i32) (result i32)))
  (memory 1)
  (table 40000 funcref)
  (elem (i32.const 0) $a $b $a $b)
  (func $a (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $b (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "dispatch") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (i32.and (local.get 0) (i32.const 3)))))
