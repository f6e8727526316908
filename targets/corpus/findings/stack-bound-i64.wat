;; synth finding stack-bound-i64 (synth 0.89): `.stack.json` under-reports i64 operations whose
;; encoder expansions push transiently (`push {r0-r3}`, `str rN, [sp, #-4]!`): i64.rotl uses
;; 116 B of stack on the CM7 against a claimed 88 B (the twin measures the painted stack).
(module
  (func (export "rotl") (param i64 i64) (result i64) (i64.rotl (local.get 0) (local.get 1))))
