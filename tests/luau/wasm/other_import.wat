;; Imports something the host contract does not provide: wasm.load must refuse it.
(module
  (import "env" "now" (func (result f64))))
