;; A data segment that runs past memory 0: wasmtime refuses to instantiate the module and so
;; does the twin; `sim diff` reports the same outcome on both sides (exit 0), not a twin error.
(module
  (memory 1)
  (data (i32.const 65534) "\01\02\03\04")
  (func (export "f") (result i32) (i32.const 1)))
