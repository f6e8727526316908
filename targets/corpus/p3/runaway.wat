;; A component whose second callback never returns (an unbounded poll).
(module
  (import "$root" "[task-return]run" (func $return (param i32)))
  (memory (export "memory") 1)
  (func (export "[async-lift]run") (result i32) (i32.const 1))
  (func (export "[callback][async-lift]run")
        (param $event i32) (param $p1 i32) (param $p2 i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
