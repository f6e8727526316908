;; synth finding multi-value-drop (synth 0.89): a call of a function with two results whose
;; second result is dropped gives the dropped value: `first` returns 10 in wasm, 20 on ARM.
(module
  (func $two (result i32 i32) (i32.const 10) (i32.const 20))
  (func (export "first") (result i32) (call $two) (drop)))
