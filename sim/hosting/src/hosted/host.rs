//! Host functions: Rust code that serves a wasm import, the same closure for the ARM run (called
//! from a trampoline) and for wasmtime. Registered by (module, field) with a signature that must
//! equal the wasm import's type. Linear-memory access goes through [`HostMem`], which is
//! bounds-checked against the memory size (R10 on ARM).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::wasm::{FuncType, Import, Val, ValType};

/// A host function's view of linear memory, and of the machine the call runs on.
pub trait HostMem {
    fn size(&self) -> u32;
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, String>;
    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), String>;
    /// The emulated SoC, the calling core and its virtual time, for the hardware capabilities
    /// (`crate::hosted::hw`); None where no machine runs the call (wasmtime, native).
    fn hw(&mut self) -> Option<HwCtx> {
        None
    }
    /// The call blocked for `d` of virtual time (a bus transfer): the calling core's clock moves
    /// on by as much.
    fn stall(&mut self, _d: twin_machine::time::Ps) {}
}

/// What [`HostMem::hw`] gives a host function.
pub struct HwCtx {
    pub soc: std::rc::Rc<std::cell::RefCell<twin_machine::soc::Soc>>,
    pub core: usize,
    pub now: twin_machine::time::Ps,
}

/// A linear memory held in a plain vector (host-side tools and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VecMem(pub Vec<u8>);

impl HostMem for VecMem {
    fn size(&self) -> u32 {
        self.0.len() as u32
    }
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, String> {
        check_range(ptr, len, self.size())?;
        Ok(self.0[ptr as usize..(ptr + len) as usize].to_vec())
    }
    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<(), String> {
        check_range(ptr, data.len() as u32, self.size())?;
        self.0[ptr as usize..ptr as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// Bounds check shared by every HostMem implementation.
pub fn check_range(ptr: u32, len: u32, size: u32) -> Result<(), String> {
    match ptr.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(format!(
            "linear-memory access [{ptr:#x}, +{len:#x}) is outside the memory ({size:#x} bytes)"
        )),
    }
}

pub type HostFn = Arc<dyn Fn(&mut dyn HostMem, &[Val]) -> Result<Vec<Val>, String> + Send + Sync>;

#[derive(Clone)]
pub struct HostFunc {
    pub ty: FuncType,
    pub f: HostFn,
}

/// What a stubbed import does ([`HostFns::stub_missing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stub {
    /// Refuse the call: a host error, the same on both sides.
    Trap,
    /// Return zeros of the import's result types.
    Zero,
}

#[derive(Clone, Default)]
pub struct HostFns {
    map: BTreeMap<(String, String), HostFunc>,
}

impl HostFns {
    pub fn register(
        &mut self,
        module: &str,
        field: &str,
        params: &[ValType],
        results: &[ValType],
        f: impl Fn(&mut dyn HostMem, &[Val]) -> Result<Vec<Val>, String> + Send + Sync + 'static,
    ) {
        self.map.insert(
            (module.to_string(), field.to_string()),
            HostFunc {
                ty: FuncType {
                    params: params.to_vec(),
                    results: results.to_vec(),
                },
                f: Arc::new(f),
            },
        );
    }

    /// Add `other`'s host functions for the imports this set does not serve yet.
    pub fn extend(&mut self, other: HostFns) {
        for (k, v) in other.map {
            self.map.entry(k).or_insert(v);
        }
    }

    /// Whether `module::field` has a host function.
    pub fn contains(&self, module: &str, field: &str) -> bool {
        self.map
            .contains_key(&(module.to_string(), field.to_string()))
    }

    /// Serve every import of `imports` that has no host function yet with a stub of its type
    /// (`--stub-imports`): one that refuses the call (a host error on both sides) or one that
    /// returns zeros. Returns the imports stubbed.
    pub fn stub_missing(&mut self, imports: &[Import], stub: Stub) -> Vec<String> {
        let mut stubbed = Vec::new();
        for imp in imports {
            if self.contains(&imp.module, &imp.field) {
                continue;
            }
            let name = format!("{}::{}", imp.module, imp.field);
            let results = imp.ty.results.clone();
            let called = name.clone();
            self.register(
                &imp.module,
                &imp.field,
                &imp.ty.params,
                &imp.ty.results,
                move |_, _| match stub {
                    Stub::Trap => Err(format!("{called} is a stub (--stub-imports trap)")),
                    Stub::Zero => Ok(results.iter().map(|t| Val::zero(*t)).collect()),
                },
            );
            stubbed.push(name);
        }
        stubbed
    }

    /// Bind every import, or list every one that is missing or mistyped.
    pub fn bind(&self, imports: &[Import]) -> Result<Vec<HostFunc>, String> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for imp in imports {
            match self.map.get(&(imp.module.clone(), imp.field.clone())) {
                None => problems.push(format!(
                    "{}::{} {} (no host function)",
                    imp.module, imp.field, imp.ty
                )),
                Some(h) if h.ty != imp.ty => problems.push(format!(
                    "{}::{}: the module imports {} but the host function is {}",
                    imp.module, imp.field, imp.ty, h.ty
                )),
                Some(h) => out.push(h.clone()),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(format!(
                "unresolved imports: {} (sim call and sim diff serve them from a wasm module with --imports PROVIDER.wasm, or stub them with --stub-imports trap|zero)",
                problems.join("; ")
            ))
        }
    }

    /// The host functions the twin provides to every module (module `env`); used by the corpus.
    pub fn builtin() -> HostFns {
        use ValType::*;
        let mut h = HostFns::default();
        let i32_ = |v: &Val| match v {
            Val::I32(x) => *x,
            _ => 0,
        };
        h.register("env", "host_add", &[I32, I32], &[I32], move |_, a| {
            Ok(vec![Val::I32(i32_(&a[0]).wrapping_add(i32_(&a[1])))])
        });
        // Exercises every register class and stack arguments: i32, i64, f32, f64 mixed.
        h.register(
            "env",
            "host_mix",
            &[I32, I64, F32, F64, I32, I64, F32, F64],
            &[F64],
            |_, a| {
                let mut acc = 0f64;
                for (i, v) in a.iter().enumerate() {
                    let x = match *v {
                        Val::I32(x) => f64::from(x as i32),
                        Val::I64(x) => x as i64 as f64,
                        Val::F32(b) => f64::from(f32::from_bits(b)),
                        Val::F64(b) => f64::from_bits(b),
                    };
                    acc = acc * 3.0 + x * (i as f64 + 1.0);
                }
                Ok(vec![Val::F64(acc.to_bits())])
            },
        );
        h.register("env", "host_sum", &[I32, I32], &[I32], move |mem, a| {
            let bytes = mem.read(i32_(&a[0]), i32_(&a[1]))?;
            Ok(vec![Val::I32(bytes.iter().fold(0u32, |s, &b| {
                s.wrapping_mul(31).wrapping_add(u32::from(b))
            }))])
        });
        h.register("env", "host_fill", &[I32, I32, I32], &[], move |mem, a| {
            let len = i32_(&a[1]);
            mem.write(i32_(&a[0]), &vec![i32_(&a[2]) as u8; len as usize])?;
            Ok(vec![])
        });
        h.register("env", "host_i64", &[I64, I64], &[I64], |_, a| {
            let (Val::I64(x), Val::I64(y)) = (a[0], a[1]) else {
                return Ok(vec![Val::I64(0)]);
            };
            Ok(vec![Val::I64(
                x.rotate_left(13) ^ y.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )])
        });
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_lists_every_problem() {
        let h = HostFns::builtin();
        let imports = vec![
            Import {
                module: "env".into(),
                field: "host_add".into(),
                ty: FuncType {
                    params: vec![ValType::I32, ValType::I32],
                    results: vec![ValType::I32],
                },
            },
            Import {
                module: "env".into(),
                field: "nope".into(),
                ty: FuncType {
                    params: vec![],
                    results: vec![],
                },
            },
            Import {
                module: "env".into(),
                field: "host_sum".into(),
                ty: FuncType {
                    params: vec![ValType::I64],
                    results: vec![],
                },
            },
        ];
        let e = h.bind(&imports).err().unwrap();
        assert!(
            e.contains("env::nope") && e.contains("env::host_sum"),
            "{e}"
        );
        assert!(!e.contains("host_add"), "{e}");
        assert!(h.bind(&imports[..1]).is_ok());
    }

    #[test]
    fn ranges() {
        assert!(check_range(0, 16, 16).is_ok());
        assert!(check_range(1, 16, 16).is_err());
        assert!(check_range(u32::MAX, 2, 16).is_err());
    }
}
