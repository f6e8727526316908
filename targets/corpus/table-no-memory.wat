;; A funcref table and no linear memory: synth's tables sit at R11 + 0 all the same, so the
;; twin gives R11 a region of the tables' size (the region is the larger of memory and tables).
(module
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $a $b $a $b)
  (func $a (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func $b (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "dispatch") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (i32.and (local.get 0) (i32.const 3)))))
