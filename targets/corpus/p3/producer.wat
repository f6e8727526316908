;; P3 callback-mode component: writes the u32 values 1..=count into its stream, retrying under
;; back-pressure: a short write joins the writable end to a waitable set and WAITs for
;; STREAM_WRITE. At the end it drops the writable end (the reader sees end of stream) and
;; returns how many values it wrote.
;; State: handle at 0, count at 4, next value at 8, set at 12, value buffer at 16.
(module
  (import "pulseengine:async" "stream_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "pulseengine:async" "stream_drop_writable" (func $drop (param i32)))
  (import "pulseengine:async" "waitable_set_new" (func $set_new (result i32)))
  (import "pulseengine:async" "waitable_join" (func $join (param i32 i32)))
  (import "$root" "[task-return]produce" (func $return (param i32)))
  (memory (export "memory") 1)
  (func $pump (result i32)
    (local $n i32)
    (block $wait
      (loop $more
        (if (i32.gt_u (i32.load (i32.const 8)) (i32.load (i32.const 4)))
          (then (call $drop (i32.load (i32.const 0)))
                (call $return (i32.load (i32.const 4)))
                (return (i32.const 0))))                          ;; EXIT
        (i32.store (i32.const 16) (i32.load (i32.const 8)))
        (local.set $n (call $write (i32.load (i32.const 0)) (i32.const 16) (i32.const 4) (i32.const 0)))
        (br_if $wait (i32.ne (local.get $n) (i32.const 4)))      ;; back-pressure (or an error)
        (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
        (br $more)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (unreachable)))
    ;; WAIT on the set: 2 | set << 4.
    (i32.or (i32.const 2) (i32.shl (i32.load (i32.const 12)) (i32.const 4))))
  (func (export "[async-lift]produce") (param $w i32) (param $count i32) (result i32)
    (i32.store (i32.const 0) (local.get $w))
    (i32.store (i32.const 4) (local.get $count))
    (i32.store (i32.const 8) (i32.const 1))
    (i32.store (i32.const 12) (call $set_new))
    (call $join (local.get $w) (i32.load (i32.const 12)))
    (call $pump))
  (func (export "[callback][async-lift]produce")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (call $pump)))
