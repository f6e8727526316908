//! The reference: the same `.wasm` in wasmtime (NaN-canonicalising), with the same imports served
//! by the same Rust host functions. To read every global and the memory after a call, the module is given extra
//! exports (`__rt_twin_global_N`, `__rt_twin_memory`) by splicing its export section; nothing
//! else in the module changes.

use wasmtime::{
    Caller, Config, Engine, Extern, Func, Instance, Linker, Memory, Module, Store, Trap,
};

use crate::hosted::host::{self, HostFns, HostMem};
use crate::wasm::{Val, ValType, WasmModule};
use twin_machine::error::{Error, Result};

/// How a wasmtime call ended, when it did not return.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RefTrap {
    Unreachable,
    DivideByZero,
    IntegerOverflow,
    BadConversion,
    MemoryOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    TableOutOfBounds,
    StackOverflow,
    OutOfFuel,
    /// A host function refused the call.
    Host(String),
    Other(String),
}

impl std::fmt::Display for RefTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefTrap::Other(s) => write!(f, "{s}"),
            RefTrap::Host(s) => write!(f, "host error: {s}"),
            t => write!(f, "{t:?}"),
        }
    }
}

const FUEL: u64 = 1_000_000_000;

/// Fuel the reference gets per cycle of the ARM side's budget, so that a call the ARM side
/// finishes within its budget does not run out of fuel in wasmtime: wasmtime spends one unit
/// per operator, `local.get`/`local.set` included, and synth's code folds several of those into
/// one instruction (`local.get a; local.get b; i32.add; local.set c` is one `add`).
pub const FUEL_PER_CYCLE: u64 = 4;

/// The fuel that goes with an ARM cycle budget.
pub fn fuel_for_cycles(cycles: u64) -> u64 {
    cycles.saturating_mul(FUEL_PER_CYCLE)
}

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_leb(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7F) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Add exports for every global and for memory 0 (when not already exported).
pub fn with_inspection_exports(m: &WasmModule) -> Result<Vec<u8>> {
    let bytes = &m.bytes;
    let mut extra = Vec::new();
    let mut n_extra = 0u64;
    for i in 0..m.globals.len() {
        let name = format!("__rt_twin_global_{i}");
        leb(name.len() as u64, &mut extra);
        extra.extend_from_slice(name.as_bytes());
        extra.push(0x03);
        leb(i as u64, &mut extra);
        n_extra += 1;
    }
    for i in 0..m.memories.len() {
        let name = match i {
            0 => "__rt_twin_memory".to_string(),
            i => format!("__rt_twin_memory_{i}"),
        };
        leb(name.len() as u64, &mut extra);
        extra.extend_from_slice(name.as_bytes());
        extra.push(0x02);
        leb(i as u64, &mut extra);
        n_extra += 1;
    }
    if n_extra == 0 {
        return Ok(bytes.clone());
    }
    // Walk the sections: replace the export section (id 7), or insert one before the first
    // non-custom section with a higher id.
    let bad = || Error::image(&m.path, "malformed section layout");
    // An export section: `count` entries, the first `old` raw bytes, then the extra ones.
    let section = |out: &mut Vec<u8>, count: u64, old: &[u8]| {
        let mut sec = Vec::new();
        leb(count + n_extra, &mut sec);
        sec.extend_from_slice(old);
        sec.extend_from_slice(&extra);
        out.push(7);
        leb(sec.len() as u64, out);
        out.extend_from_slice(&sec);
    };
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    let mut done = false;
    while at < bytes.len() {
        let id = bytes[at];
        let (size, n) = read_leb(&bytes[at + 1..]).ok_or_else(bad)?;
        let body = at + 1 + n;
        let end = body + size as usize;
        if end > bytes.len() {
            return Err(bad());
        }
        // Binary order: ... global (6), export (7), start (8), element (9), data count (12),
        // code (10), data (11); the tag section (13) comes before the globals.
        if !done && matches!(id, 8..=12) {
            section(&mut out, 0, &[]);
            done = true;
        }
        if id == 7 && !done {
            let (count, cn) = read_leb(&bytes[body..]).ok_or_else(bad)?;
            section(&mut out, count, &bytes[body + cn..end]);
            done = true;
        } else {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
    }
    if !done {
        section(&mut out, 0, &[]);
    }
    Ok(out)
}

struct WtMem<'a, 'b> {
    caller: &'a mut Caller<'b, ()>,
    mem: Option<Memory>,
}

impl HostMem for WtMem<'_, '_> {
    fn size(&self) -> u32 {
        self.mem
            .map(|m| m.data_size(&*self.caller) as u32)
            .unwrap_or(0)
    }
    fn read(&mut self, ptr: u32, len: u32) -> std::result::Result<Vec<u8>, String> {
        host::check_range(ptr, len, self.size())?;
        let m = self.mem.ok_or("the module has no memory")?;
        Ok(m.data(&*self.caller)[ptr as usize..(ptr + len) as usize].to_vec())
    }
    fn write(&mut self, ptr: u32, data: &[u8]) -> std::result::Result<(), String> {
        host::check_range(ptr, data.len() as u32, self.size())?;
        let m = self.mem.ok_or("the module has no memory")?;
        m.data_mut(&mut *self.caller)[ptr as usize..ptr as usize + data.len()]
            .copy_from_slice(data);
        Ok(())
    }
}

fn wt_type(t: ValType) -> wasmtime::ValType {
    match t {
        ValType::I32 => wasmtime::ValType::I32,
        ValType::I64 => wasmtime::ValType::I64,
        ValType::F32 => wasmtime::ValType::F32,
        ValType::F64 => wasmtime::ValType::F64,
    }
}

fn to_wt(v: Val) -> wasmtime::Val {
    match v {
        Val::I32(x) => wasmtime::Val::I32(x as i32),
        Val::I64(x) => wasmtime::Val::I64(x as i64),
        Val::F32(b) => wasmtime::Val::F32(b),
        Val::F64(b) => wasmtime::Val::F64(b),
    }
}

fn from_wt(v: &wasmtime::Val) -> Val {
    match *v {
        wasmtime::Val::I32(x) => Val::I32(x as u32),
        wasmtime::Val::I64(x) => Val::I64(x as u64),
        wasmtime::Val::F32(b) => Val::F32(b),
        wasmtime::Val::F64(b) => Val::F64(b),
        _ => Val::I32(0),
    }
}

pub struct Reference {
    /// Fuel (wasmtime's instruction-count proxy) the last call consumed.
    pub last_fuel: u64,
    /// Fuel each call may consume before it traps with `OutOfFuel`.
    pub fuel_budget: u64,
    store: Store<()>,
    instance: Instance,
    memory: Option<Memory>,
    n_globals: usize,
}

impl crate::canon::Guest for Reference {
    fn call(
        &mut self,
        export: &str,
        args: &[Val],
        results: usize,
    ) -> Result<std::result::Result<Vec<Val>, crate::canon::Trap>> {
        Ok(Reference::call(self, export, args, results)?.map_err(|t| t.to_string()))
    }
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>> {
        self.read_memory(ptr, len)
    }
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()> {
        self.write_memory(ptr, bytes)
    }
    fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }
}

impl Reference {
    /// Why wasmtime will not instantiate `m` with every import served (a data or element
    /// segment out of range, a start function that traps), or None when it does, or when an
    /// import is not served (the host's lack, not the module's).
    pub fn refusal(m: &WasmModule, hostfns: &HostFns) -> Option<String> {
        hostfns.bind(&m.imports).ok()?;
        Reference::new(m, hostfns).err().map(|e| e.to_string())
    }

    pub fn new(m: &WasmModule, hostfns: &HostFns) -> Result<Reference> {
        let bound = hostfns
            .bind(&m.imports)
            .map_err(|e| Error::image(&m.path, e))?;
        let mut config = Config::new();
        config.consume_fuel(true);
        // Arithmetic NaN results become the canonical NaN 0x7FC0_0000 (f64: 0x7FF8_0000_0000_0000),
        // which is also the Cortex-M FPU's default NaN: NaN sign and payload are nondeterministic
        // in wasm, and without this x86 produces negative default NaNs that, once stored to
        // linear memory, differ byte for byte from ARM's.
        config.cranelift_nan_canonicalization(true);
        let engine = Engine::new(&config).map_err(|e| Error::Usage(format!("wasmtime: {e}")))?;
        let bytes = with_inspection_exports(m)?;
        let module = Module::new(&engine, &bytes)
            .map_err(|e| Error::image(&m.path, format!("wasmtime rejects the module: {e}")))?;
        let mut store = Store::new(&engine, ());
        store
            .set_fuel(FUEL)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        for (imp, h) in m.imports.iter().zip(bound) {
            let ty = wasmtime::FuncType::new(
                &engine,
                imp.ty.params.iter().map(|t| wt_type(*t)),
                imp.ty.results.iter().map(|t| wt_type(*t)),
            );
            let name = format!("{}::{}", imp.module, imp.field);
            let func = Func::new(&mut store, ty, move |mut caller, args, results| {
                let mem = match caller.get_export("__rt_twin_memory") {
                    Some(Extern::Memory(mem)) => Some(mem),
                    _ => None,
                };
                let args: Vec<Val> = args.iter().map(from_wt).collect();
                let out = (h.f)(
                    &mut WtMem {
                        caller: &mut caller,
                        mem,
                    },
                    &args,
                )
                .map_err(|e| wasmtime::Error::msg(format!("host function {name}: {e}")))?;
                for (r, v) in results.iter_mut().zip(out) {
                    *r = to_wt(v);
                }
                Ok(())
            });
            linker
                .define(&store, &imp.module, &imp.field, func)
                .map_err(|e| Error::Usage(format!("wasmtime: {e}")))?;
        }
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| Error::image(&m.path, format!("wasmtime instantiation: {e}")))?;
        let memory = instance.get_memory(&mut store, "__rt_twin_memory");
        Ok(Reference {
            last_fuel: 0,
            fuel_budget: FUEL,
            store,
            instance,
            memory,
            n_globals: m.globals.len(),
        })
    }

    /// Call an export: its results, or the trap.
    pub fn call(
        &mut self,
        export: &str,
        args: &[Val],
        n_results: usize,
    ) -> Result<std::result::Result<Vec<Val>, RefTrap>> {
        let f = self
            .instance
            .get_func(&mut self.store, export)
            .ok_or_else(|| Error::Usage(format!("wasmtime: no export {export:?}")))?;
        let args: Vec<wasmtime::Val> = args.iter().map(|a| to_wt(*a)).collect();
        let mut results = vec![wasmtime::Val::I32(0); n_results];
        self.store
            .set_fuel(self.fuel_budget)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let outcome = f.call(&mut self.store, &args, &mut results);
        self.last_fuel = self.fuel_budget - self.store.get_fuel().unwrap_or(0);
        match outcome {
            Ok(()) => Ok(Ok(results.iter().map(from_wt).collect())),
            Err(e) => match e.downcast_ref::<Trap>() {
                Some(t) => Ok(Err(match t {
                    Trap::UnreachableCodeReached => RefTrap::Unreachable,
                    Trap::IntegerDivisionByZero => RefTrap::DivideByZero,
                    Trap::IntegerOverflow => RefTrap::IntegerOverflow,
                    Trap::BadConversionToInteger => RefTrap::BadConversion,
                    Trap::MemoryOutOfBounds => RefTrap::MemoryOutOfBounds,
                    Trap::IndirectCallToNull => RefTrap::IndirectCallToNull,
                    Trap::BadSignature => RefTrap::BadSignature,
                    Trap::TableOutOfBounds => RefTrap::TableOutOfBounds,
                    Trap::StackOverflow => RefTrap::StackOverflow,
                    Trap::OutOfFuel => RefTrap::OutOfFuel,
                    other => RefTrap::Other(other.to_string()),
                })),
                // A host function refused the call.
                None => Ok(Err(RefTrap::Host(format!("{e:#}")))),
            },
        }
    }

    /// Write bytes into linear memory at `offset` (bounds-checked).
    pub fn write_memory(&mut self, offset: u32, bytes: &[u8]) -> Result<()> {
        let m = self
            .memory
            .ok_or_else(|| Error::Usage("the module has no memory".into()))?;
        let data = m.data_mut(&mut self.store);
        host::check_range(offset, bytes.len() as u32, data.len() as u32).map_err(Error::Usage)?;
        data[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Grow linear memory by whole pages to hold `bytes` more; the first new byte's offset.
    pub fn grow_memory(&mut self, bytes: u32) -> Result<u32> {
        let m = self
            .memory
            .ok_or_else(|| Error::Usage("the module has no memory".into()))?;
        let pages = u64::from(bytes).div_ceil(65536);
        let old = m
            .grow(&mut self.store, pages)
            .map_err(|e| Error::Usage(format!("growing linear memory by {pages} pages: {e}")))?;
        u32::try_from(old * 65536).map_err(|_| Error::Usage("linear memory beyond 4 GiB".into()))
    }

    /// `len` bytes of linear memory at `offset` (bounds-checked).
    pub fn read_memory(&mut self, offset: u32, len: u32) -> Result<Vec<u8>> {
        let m = self
            .memory
            .ok_or_else(|| Error::Usage("the module has no memory".into()))?;
        let data = m.data(&self.store);
        host::check_range(offset, len, data.len() as u32).map_err(Error::Usage)?;
        Ok(data[offset as usize..(offset + len) as usize].to_vec())
    }

    pub fn memory(&mut self) -> Vec<u8> {
        self.memory
            .map(|m| m.data(&self.store).to_vec())
            .unwrap_or_default()
    }

    /// Memory `i` (1..) of a multi-memory module.
    pub fn extra_memory(&mut self, i: usize) -> Option<Vec<u8>> {
        let m = self
            .instance
            .get_memory(&mut self.store, &format!("__rt_twin_memory_{i}"))?;
        Some(m.data(&self.store).to_vec())
    }

    pub fn globals(&mut self) -> Vec<Val> {
        (0..self.n_globals)
            .map(|i| {
                let g = self
                    .instance
                    .get_global(&mut self.store, &format!("__rt_twin_global_{i}"))
                    .expect("inspection export");
                from_wt(&g.get(&mut self.store))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspection_exports_reach_every_global() {
        let wat = r#"(module
            (memory 1)
            (global $a (mut i32) (i32.const 5))
            (global $b f64 (f64.const 2.5))
            (func (export "bump") global.get $a i32.const 1 i32.add global.set $a
                  i32.const 8 i32.const 77 i32.store))"#;
        let m = WasmModule::parse(wat::parse_str(wat).unwrap(), "t.wat").unwrap();
        let mut r = Reference::new(&m, &HostFns::builtin()).unwrap();
        assert_eq!(r.call("bump", &[], 0).unwrap(), Ok(vec![]));
        assert_eq!(r.globals(), vec![Val::I32(6), Val::F64(2.5f64.to_bits())]);
        assert_eq!(r.memory()[8], 77);
    }

    #[test]
    fn traps_are_classified() {
        let wat = r#"(module
            (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
            (func (export "spin") (loop br 0)))"#;
        let m = WasmModule::parse(wat::parse_str(wat).unwrap(), "t.wat").unwrap();
        let mut r = Reference::new(&m, &HostFns::builtin()).unwrap();
        assert_eq!(
            r.call("div", &[Val::I32(1), Val::I32(0)], 1).unwrap(),
            Err(RefTrap::DivideByZero)
        );
        assert_eq!(
            r.call("div", &[Val::I32(0x8000_0000), Val::I32(u32::MAX)], 1)
                .unwrap(),
            Err(RefTrap::IntegerOverflow)
        );
        assert_eq!(r.call("spin", &[], 0).unwrap(), Err(RefTrap::OutOfFuel));
    }
}
