;; A WASI command: prints its argument count and "hello from _start" on stdout, "to stderr" on
;; stderr, and returns from _start (exit 0).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "hello from _start, argc=?\n")
  (data (i32.const 128) "to stderr\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    ;; argc is small in the tests: one digit.
    (i32.store8 (i32.const 88) (i32.add (i32.const 48) (i32.load (i32.const 16))))
    (call $write (i32.const 1) (i32.const 64) (i32.const 26))
    (call $write (i32.const 2) (i32.const 128) (i32.const 10))))
