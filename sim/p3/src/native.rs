//! The same callback-mode components through wasmtime's own component-model-async support: the
//! core module (meld's lowered form: `[async-lift]F`, `[callback][async-lift]F`, a
//! `[task-return]F` import) is wrapped into a component whose export lifts `F` with
//! `canon lift ... async (callback ...)`, and whose `[task-return]F` is the canonical
//! `task.return` built-in. wasmtime then drives the callback loop itself: no rt-twin executor or
//! intrinsics are involved, which makes it an independent second path for the known answers.
//!
//! Supported shapes: `F(u32) -> u32` and `F(u32) -> string` (the string's `task.return` needs
//! the module's memory, which exists only after instantiation: a one-slot table breaks the cycle).

use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Config, Engine, Store};

use twin_machine::error::{Error, Result};

/// Fuel for a whole task.
const FUEL: u64 = 100_000_000;

/// What a component task returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    U32,
    String,
}

/// The component text around the core module `core_wat` (a `(module ...)` in text form).
pub fn component_text(core_wat: &str, func: &str, returns: Returns) -> Result<String> {
    let at = core_wat
        .find("(module")
        .ok_or_else(|| Error::Usage("no (module ...) in the core module text".into()))?;
    let core = format!("(core module $m{}", &core_wat[at + "(module".len()..]);
    let lift = format!(
        r#"(canon lift (core func $i "[async-lift]{func}") async (callback (core func $i "[callback][async-lift]{func}")))"#
    );
    // A string crosses through memory: the lift names it too.
    let lift_mem = lift.replace(
        "async (callback",
        r#"async (memory (core memory $i "memory")) (callback"#,
    );
    Ok(match returns {
        Returns::U32 => format!(
            r#"(component
  {core}
  (core func $ret (canon task.return (result u32)))
  (core instance $root (export "[task-return]{func}" (func $ret)))
  (core instance $i (instantiate $m (with "$root" (instance $root))))
  (func (export "{func}") async (param "n" u32) (result u32) {lift})
)"#
        ),
        Returns::String => format!(
            r#"(component
  {core}
  (core module $shim
    (type $ft (func (param i32 i32)))
    (table (export "t") 1 1 funcref)
    (func (export "ret") (param i32 i32)
      (call_indirect (type $ft) (local.get 0) (local.get 1) (i32.const 0))))
  (core instance $shim (instantiate $shim))
  (core instance $root (export "[task-return]{func}" (func $shim "ret")))
  (core instance $i (instantiate $m (with "$root" (instance $root))))
  (core func $ret (canon task.return (result string) (memory (core memory $i "memory"))))
  (core module $fix
    (import "" "t" (table 1 1 funcref))
    (import "" "f" (func $f (param i32 i32)))
    (elem (i32.const 0) func $f))
  (core instance $fixes (export "t" (table $shim "t")) (export "f" (func $ret)))
  (core instance (instantiate $fix (with "" (instance $fixes))))
  (func (export "{func}") async (param "n" u32) (result string) {lift_mem})
)"#
        ),
    })
}

/// Run `func(arg)` of the callback-mode core module at `path` as a component in wasmtime with
/// component-model-async: the result as text (a u32 in decimal, or the string).
pub fn run(path: &std::path::Path, func: &str, arg: u32, returns: Returns) -> Result<String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: file.clone(),
        source: e,
    })?;
    let module = twin_hosting::wasm::WasmModule::load(path)?;
    for export in [
        format!("[async-lift]{func}"),
        format!("[callback][async-lift]{func}"),
    ] {
        if module.export(&export).is_none() {
            return Err(Error::image(
                &file,
                format!("no export {export:?}: not a callback-mode component for {func}"),
            ));
        }
    }
    let component = component_text(&text, func, returns)?;
    let bytes = wat::parse_str(&component)
        .map_err(|e| Error::image(&file, format!("wrapping as a component: {e}")))?;
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    // A runaway callback ends in an out-of-fuel trap instead of a hang.
    config.consume_fuel(true);
    let engine = Engine::new(&config).map_err(|e| Error::Usage(format!("wasmtime: {e}")))?;
    let component = Component::new(&engine, &bytes)
        .map_err(|e| Error::image(&file, format!("wasmtime rejects the component: {e:#}")))?;
    let mut store = Store::new(&engine, ());
    store
        .set_fuel(FUEL)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let linker: Linker<()> = Linker::new(&engine);
    let call = async {
        let instance = linker.instantiate_async(&mut store, &component).await?;
        let f = instance
            .get_func(&mut store, func)
            .ok_or_else(|| wasmtime::Error::msg(format!("no export {func}")))?;
        let mut results = [Val::Bool(false)];
        f.call_async(&mut store, &[Val::U32(arg)], &mut results)
            .await?;
        Ok::<Val, wasmtime::Error>(results[0].clone())
    };
    let v = futures::executor::block_on(call)
        .map_err(|e| Error::image(&file, format!("{func}({arg}): {e:#}")))?;
    match v {
        Val::U32(n) => Ok(n.to_string()),
        Val::String(s) => Ok(s),
        other => Err(Error::image(
            &file,
            format!("{func}: unexpected result {other:?}"),
        )),
    }
}
