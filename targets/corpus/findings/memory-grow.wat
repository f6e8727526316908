;; synth finding memory-grow-runtime (synth 0.89): a memory.grow of a run-time operand returns
;; -1; wasm says growing by 0 succeeds and returns the current size (1 page here), as does a
;; growth within the maximum. (A constant `memory.grow 0` synth folds correctly.)
(module
  (memory 1 2)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))
