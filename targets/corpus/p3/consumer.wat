;; P3 callback-mode component: sums the u32 values of its stream until end of stream, WAITing
;; for STREAM_READ whenever a read is PENDING; returns the sum.
;; State: handle at 0, sum at 4, set at 8, buffer (64 bytes) at 16.
(module
  (import "pulseengine:async" "stream_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "pulseengine:async" "stream_drop_readable" (func $drop (param i32)))
  (import "pulseengine:async" "waitable_set_new" (func $set_new (result i32)))
  (import "pulseengine:async" "waitable_join" (func $join (param i32 i32)))
  (import "$root" "[task-return]consume" (func $return (param i32)))
  (memory (export "memory") 1)
  (func $drain (result i32)
    (local $n i32) (local $i i32)
    (loop $more
      (local.set $n (call $read (i32.load (i32.const 0)) (i32.const 16) (i32.const 64) (i32.const 0)))
      (if (i32.eqz (local.get $n))                                 ;; end of stream
        (then (call $join (i32.load (i32.const 0)) (i32.const 0))
              (call $drop (i32.load (i32.const 0)))
              (call $return (i32.load (i32.const 4)))
              (return (i32.const 0))))
      (if (i32.eq (local.get $n) (i32.const -5))                   ;; PENDING: wait
        (then (return (i32.or (i32.const 2) (i32.shl (i32.load (i32.const 8)) (i32.const 4))))))
      (if (i32.lt_s (local.get $n) (i32.const 0)) (then (unreachable)))
      (local.set $i (i32.const 0))
      (loop $sum
        (i32.store (i32.const 4)
          (i32.add (i32.load (i32.const 4)) (i32.load (i32.add (i32.const 16) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $sum (i32.lt_u (local.get $i) (local.get $n))))
      (br $more))
    (unreachable))
  (func (export "[async-lift]consume") (param $r i32) (result i32)
    (i32.store (i32.const 0) (local.get $r))
    (i32.store (i32.const 4) (i32.const 0))
    (i32.store (i32.const 8) (call $set_new))
    (call $join (local.get $r) (i32.load (i32.const 8)))
    (call $drain))
  (func (export "[callback][async-lift]consume")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (call $drain)))
