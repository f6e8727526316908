//! Imports served by a wasm module the user gives (`sim diff|call --imports PROVIDER.wasm`):
//! each import the built-in host functions do not serve is looked up among the provider's
//! exports, by `module::field` first, then by the field alone, and must have the import's
//! type. Each side of a differential gets its own instance of the provider (build the host
//! functions once per side), so both see the same host behaviour from the same start.
//!
//! A provider runs in wasmtime with the default fuel per call (a provider that does not return
//! is a host error); it must import nothing, and it cannot see the caller's linear memory (its
//! exports take and return numbers).

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::hosted::host::HostFns;
use crate::reference::Reference;
use crate::wasm::{Import, WasmModule};
use twin_machine::error::{Error, Result};

/// Serve the imports of `imports` that `fns` does not serve yet from the provider module at
/// `path` (one new instance of it); the imports it serves. An import the provider exports with
/// another type is an error naming both types.
pub fn serve(fns: &mut HostFns, path: &Path, imports: &[Import]) -> Result<Vec<String>> {
    let module = WasmModule::load(path)?;
    if let Some(i) = module.imports.first() {
        return Err(Error::image(
            &module.path,
            format!(
                "an import provider must import nothing, but it imports {}::{} ({} imports)",
                i.module,
                i.field,
                module.imports.len()
            ),
        ));
    }
    let instance = Arc::new(Mutex::new(Reference::new(&module, &HostFns::default())?));
    let mut served = Vec::new();
    for imp in imports {
        if fns.contains(&imp.module, &imp.field) {
            continue;
        }
        let qualified = format!("{}::{}", imp.module, imp.field);
        let Some(export) = [qualified.as_str(), imp.field.as_str()]
            .into_iter()
            .find_map(|n| module.export(n))
        else {
            continue;
        };
        if export.ty != imp.ty {
            return Err(Error::image(
                &module.path,
                format!(
                    "export {} is {}, but the module imports {qualified} as {}",
                    export.name, export.ty, imp.ty
                ),
            ));
        }
        let (name, results) = (export.name.clone(), imp.ty.results.len());
        let provider = module.path.clone();
        let instance = Arc::clone(&instance);
        fns.register(
            &imp.module,
            &imp.field,
            &imp.ty.params,
            &imp.ty.results,
            move |_, args| {
                let mut p = instance
                    .lock()
                    .map_err(|_| format!("import provider {provider} failed before"))?;
                match p.call(&name, args, results) {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(trap)) => Err(format!(
                        "import provider {provider}: {name} trapped ({trap})"
                    )),
                    Err(e) => Err(format!("import provider {provider}: {e}")),
                }
            },
        );
        served.push(qualified);
    }
    Ok(served)
}
