;; The memory shape of a cargo-component leaf: 17 pages (1.06 MiB), Rust's 1 MiB shadow stack
;; growing down from the `__stack_pointer` global, data above it. Larger than any data window
;; of either core: the twin places it across the OCRAM windows, which follow each other on the
;; bus.
(module
  (memory (export "memory") 17)
  (global $sp (mut i32) (i32.const 0x100000))
  (data (i32.const 0x100000) "\2a\00\00\00falcon")
  ;; Push `n` words onto the shadow stack, sum them back, pop: touches [sp - 4n, sp).
  (func (export "frame") (param $n i32) (result i32)
    (local $i i32) (local $sum i32) (local $base i32)
    (local.set $n (i32.and (local.get $n) (i32.const 0x3FFF)))
    (local.set $base (i32.sub (global.get $sp) (i32.shl (local.get $n) (i32.const 2))))
    (global.set $sp (local.get $base))
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2)))
        (i32.mul (local.get $i) (i32.const 0x9E3779B1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 0))
    (block $done (loop $add
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $sum (i32.add (local.get $sum)
        (i32.load (i32.add (local.get $base) (i32.shl (local.get $i) (i32.const 2))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $add)))
    (global.set $sp (i32.add (local.get $base) (i32.shl (local.get $n) (i32.const 2))))
    (local.get $sum))
  ;; The data above the stack, and a store into the last page.
  (func (export "answer") (result i32) (i32.load (i32.const 0x100000)))
  (func (export "poke_top") (param $v i32) (result i32)
    (i32.store (i32.const 0x10FFFC) (local.get $v))
    (i32.load (i32.const 0x10FFFC)))
  ;; Any address: traps past the memory (or the cap it runs with).
  (func (export "load") (param $a i32) (result i32) (i32.load (local.get $a))))
