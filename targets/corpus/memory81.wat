;; The memory a meld fusion of falcon's five leaves declares: 81 pages (5.06 MiB), more than
;; the RT1176 has in any run of its RAMs; a deployment runs it with less (a memory cap).
(module
  (memory (export "memory") 81)
  (data (i32.const 0x1000) "\07\00\00\00")
  (func (export "seven") (result i32) (i32.load (i32.const 0x1000)))
  (func (export "load") (param $a i32) (result i32) (i32.load (local.get $a))))
