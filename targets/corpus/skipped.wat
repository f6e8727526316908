;; An export synth declines (f32.ceil on every target): with --allow-skipped-exports its object
;; leaves the export out and keeps the rest; the twin reports it and compares the others.
(module
  (func (export "ceil") (param f32) (result f32) (f32.ceil (local.get 0)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))
