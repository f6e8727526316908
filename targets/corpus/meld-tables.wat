;; The shape of a meld fusion (`meld fuse --memory shared`): one funcref table per fused
;; component. Table $a is never indexed and names a function nothing calls directly (synth
;; leaves such functions out of its object); table $b is homogeneous and dispatched; table $c
;; mixes two signatures (synth checks the entry's type at run time from its type-id sidecar,
;; `.synth.table_type_ids`).
(module
  (type $un (func (param i32) (result i32)))
  (type $bin (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table $a 3 funcref)
  (table $b 4 funcref)
  (table $c 3 funcref)
  (func $dead (type $un) (i32.mul (local.get 0) (i32.const 7)))
  (func $inc (type $un) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $un) (i32.shl (local.get 0) (i32.const 1)))
  (func $neg (type $un) (i32.sub (i32.const 0) (local.get 0)))
  (func $sq (type $un) (i32.mul (local.get 0) (local.get 0)))
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (elem (table $a) (i32.const 0) func $dead $dead)
  (elem (table $b) (i32.const 0) func $inc $dbl $neg $sq)
  (elem (table $c) (i32.const 1) func $add $inc)
  ;; Direct calls keep the dispatched functions in synth's object.
  (func (export "direct") (param $x i32) (result i32)
    (i32.add
      (i32.add (call $inc (local.get $x)) (call $dbl (local.get $x)))
      (i32.add (i32.add (call $neg (local.get $x)) (call $sq (local.get $x)))
               (call $add (local.get $x) (local.get $x)))))
  ;; Table $b: entry `sel`; out of range traps.
  (func (export "dispatch_b") (param $x i32) (param $sel i32) (result i32)
    (call_indirect $b (type $un) (local.get $x) (local.get $sel)))
  ;; Table $c: entry 0 is null, 1 is (i32 i32) -> i32, 2 is (i32) -> i32: a unary call traps
  ;; on 0 and 1.
  (func (export "dispatch_c") (param $x i32) (param $sel i32) (result i32)
    (call_indirect $c (type $un) (local.get $x) (local.get $sel)))
  ;; Stores the dispatched result where the table region aliases memory: not at 0.
  (func (export "store_b") (param $x i32) (param $sel i32)
    (i32.store (i32.const 1024) (call_indirect $b (type $un) (local.get $x) (i32.and (local.get $sel) (i32.const 3))))))
