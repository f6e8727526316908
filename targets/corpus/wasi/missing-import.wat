;; Imports a host function nobody provides.
(module
  (import "env" "launch_missiles" (func $launch))
  (func (export "_start") (call $launch)))
