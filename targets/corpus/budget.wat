;; Budgets with one meaning: `spin` counts an i32 from its argument until it wraps to 0 (up to
;; 2^32 iterations), so most cases cannot finish within `sim diff`'s default budget of
;; 10,000,000 cycles on the ARM side or the fuel it implies in wasmtime; those are "did not
;; finish on either side" (equal), and the cases that do finish (arguments close to 2^32) are
;; compared as usual. Every case ends in well under a second.
(module
  (func (export "spin") (param i32) (result i32)
    (loop $l
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (local.get 0)))
    (local.get 0)))
