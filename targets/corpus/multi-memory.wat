;; Two memories (meld's multi-memory mode; synth #406): memory 0 at R11 as always, memory 1 in
;; the object's `.synth.wasm_mem_1` section with its data already in it, addressed through
;; `__synth_wasm_data_1`. synth lowers memory-1 accesses without software bounds only
;; (`--safety-bounds none`), so the addresses are masked in range here. `sim diff` compares
;; both memories after every call.
(module
  (memory $m0 1 1)
  (memory $m1 2 2)
  (data (memory $m1) (i32.const 32) "\01\02\03\04\05\06\07\08")
  (data (memory $m0) (i32.const 8) "\aa\bb\cc\dd")
  ;; A word from memory 1 into memory 0, read back from memory 0.
  (func (export "move") (param i32 i32) (result i32)
    (i32.store $m0 (i32.and (local.get 0) (i32.const 0xfffc))
      (i32.load $m1 (i32.and (local.get 1) (i32.const 0x1fffc))))
    (i32.load $m0 (i32.and (local.get 0) (i32.const 0xfffc))))
  ;; A store to memory 1 only.
  (func (export "store1") (param i32 i32)
    (i32.store $m1 (i32.and (local.get 0) (i32.const 0x1fffc)) (local.get 1)))
  (func (export "sizes") (result i32)
    (i32.add (i32.mul (memory.size $m0) (i32.const 100)) (memory.size $m1))))
