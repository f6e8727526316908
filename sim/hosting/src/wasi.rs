//! The plain runtime path for WASI command modules (`sim wasm run F.wasm`): instantiate with
//! WASI preview 1 (wasmtime-wasi), stdout/stderr inherited, print `READY` once instantiated and
//! before the entry point, then run `_start`.
//!
//! Outcomes: `Ok(code)` with the module's exit code (0 when `_start` returns, the `proc_exit`
//! argument otherwise); a module that fails to load or instantiate or has no `_start` is an
//! [`Error::Image`] naming the file and the cause; a trap is [`Outcome::Trapped`].

use std::io::Write;
use std::path::Path;

use wasmtime::{Config, Engine, ExternType, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtxBuilder;

use twin_machine::error::{Error, Result};

/// An error and its causes on one line.
fn chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `_start` returned (0) or the module called `proc_exit(code)`.
    Exited(i32),
    /// A trap, with wasmtime's description (and backtrace when it has one).
    Trapped(String),
}

/// Load, instantiate and run `path` (`.wasm` or `.wat`) with `args` after the program name.
pub fn run_command(path: &Path, args: &[String]) -> Result<Outcome> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: file.clone(),
        source: e,
    })?;
    let bytes = wat::parse_bytes(&bytes)
        .map_err(|e| Error::image(&file, format!("not a wasm or WAT module: {e}")))?;
    let engine = Engine::new(&Config::new()).map_err(|e| Error::Usage(format!("wasmtime: {e}")))?;
    let module = Module::new(&engine, &bytes)
        .map_err(|e| Error::image(&file, format!("not a loadable wasm module: {}", chain(&e))))?;
    match module.get_export("_start") {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        Some(other) => {
            return Err(Error::image(
                &file,
                format!("`_start` is {other:?}, not a function () -> ()"),
            ))
        }
        None => {
            let exports: Vec<_> = module.exports().map(|e| e.name().to_string()).collect();
            return Err(Error::image(
                &file,
                format!(
                    "no `_start` export: not a WASI command module (exports: {})",
                    if exports.is_empty() {
                        "none".to_string()
                    } else {
                        exports.join(", ")
                    }
                ),
            ));
        }
    }
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |cx| cx)
        .map_err(|e| Error::Usage(format!("wasmtime-wasi: {e}")))?;
    let program = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    let ctx = WasiCtxBuilder::new()
        .inherit_stdout()
        .inherit_stderr()
        .inherit_stdin()
        .arg(program)
        .args(args)
        .build_p1();
    let mut store = Store::new(&engine, ctx);
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| Error::image(&file, format!("cannot instantiate: {}", chain(&e))))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| Error::image(&file, format!("`_start`: {}", chain(&e))))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "READY");
        let _ = out.flush();
    }
    match start.call(&mut store, ()) {
        Ok(()) => Ok(Outcome::Exited(0)),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(Outcome::Exited(exit.0)),
            None => Ok(Outcome::Trapped(format!("{e:?}"))),
        },
    }
}
