//! What the twin needs to know about a core wasm module (as meld emits): function types, imports,
//! exports, memory 0, globals with their evaluated initial values, active data segments of
//! memory 0 and the funcref table's element segments. Parsed with `wasmparser`.

use std::fmt;

use wasmparser::{
    CompositeInnerType, ConstExpr, DataKind, ElementItems, ElementKind, ExternalKind, Operator,
    Parser, Payload, TypeRef, ValType as WpValType,
};

use twin_machine::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
        })
    }
}

/// A wasm value as bits: floats keep their exact bit pattern (NaN payloads included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Val {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
}

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
        }
    }

    pub fn bits(&self) -> u64 {
        match *self {
            Val::I32(v) | Val::F32(v) => u64::from(v),
            Val::I64(v) | Val::F64(v) => v,
        }
    }

    pub fn zero(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
        }
    }

    pub fn is_nan(&self) -> bool {
        match *self {
            Val::F32(b) => f32::from_bits(b).is_nan(),
            Val::F64(b) => f64::from_bits(b).is_nan(),
            _ => false,
        }
    }

    /// Bit-exact equality, except that any NaN equals any NaN (wasm NaN results are
    /// nondeterministic in their payload).
    pub fn same(&self, other: &Val) -> bool {
        self.ty() == other.ty() && (self == other || (self.is_nan() && other.is_nan()))
    }

    /// Parse `text` as a value of type `ty`: decimal or 0x-hex integers (negative allowed),
    /// floats as decimals, `nan`, `inf`, `-inf`, or raw bits `0x...` for f32/f64 with a `bits:`
    /// prefix.
    pub fn parse(ty: ValType, text: &str) -> std::result::Result<Val, String> {
        let t = text.trim();
        let bad = || format!("{t:?} is not a valid {ty}");
        let int = |t: &str| -> std::result::Result<i128, String> {
            let (neg, digits) = match t.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, t),
            };
            let v = match digits.strip_prefix("0x") {
                Some(h) => i128::from_str_radix(&h.replace('_', ""), 16),
                None => digits.replace('_', "").parse::<i128>(),
            }
            .map_err(|_| bad())?;
            Ok(if neg { -v } else { v })
        };
        if let Some(bits) = t.strip_prefix("bits:") {
            let b = int(bits)?;
            return Ok(match ty {
                ValType::F32 if (0..=u32::MAX as i128).contains(&b) => Val::F32(b as u32),
                ValType::F64 if (0..=u64::MAX as i128).contains(&b) => Val::F64(b as u64),
                _ => return Err(bad()),
            });
        }
        match ty {
            ValType::I32 => {
                let v = int(t)?;
                if !(i32::MIN as i128..=u32::MAX as i128).contains(&v) {
                    return Err(bad());
                }
                Ok(Val::I32(v as u32))
            }
            ValType::I64 => {
                let v = int(t)?;
                if !(i64::MIN as i128..=u64::MAX as i128).contains(&v) {
                    return Err(bad());
                }
                Ok(Val::I64(v as u64))
            }
            ValType::F32 => t
                .parse::<f32>()
                .map(|f| Val::F32(f.to_bits()))
                .map_err(|_| bad()),
            ValType::F64 => t
                .parse::<f64>()
                .map(|f| Val::F64(f.to_bits()))
                .map_err(|_| bad()),
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "i32:{:#010x} ({})", v, v as i32),
            Val::I64(v) => write!(f, "i64:{:#018x} ({})", v, v as i64),
            Val::F32(b) => write!(f, "f32:{:#010x} ({:?})", b, f32::from_bits(b)),
            Val::F64(b) => write!(f, "f64:{:#018x} ({:?})", b, f64::from_bits(b)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "({}) -> ({})", list(&self.params), list(&self.results))
    }
}

#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub field: String,
    pub ty: FuncType,
}

#[derive(Debug, Clone)]
pub struct Export {
    pub name: String,
    pub func: u32,
    pub ty: FuncType,
}

#[derive(Debug, Clone)]
pub struct Global {
    pub ty: ValType,
    pub mutable: bool,
    pub init: Val,
}

#[derive(Debug, Clone)]
pub struct Memory {
    pub initial_pages: u64,
    pub page_size: u64,
}

impl Memory {
    pub fn bytes(&self) -> u64 {
        self.initial_pages * self.page_size
    }
}

/// An active element segment: function indices from `offset` of table `table`.
#[derive(Debug, Clone)]
pub struct Elements {
    pub table: u32,
    pub offset: u32,
    pub funcs: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct WasmModule {
    pub path: String,
    pub bytes: Vec<u8>,
    pub types: Vec<FuncType>,
    pub imports: Vec<Import>,
    /// Type index of each function, imports first (the wasm function index space).
    pub func_types: Vec<u32>,
    pub exports: Vec<Export>,
    pub memory: Option<Memory>,
    /// Every memory the module defines (multi-memory), memory 0 first.
    pub memories: Vec<Memory>,
    pub globals: Vec<Global>,
    pub data: Vec<(u32, Vec<u8>)>,
    /// Each funcref table's size in entries (its initial size), in table index order: meld
    /// keeps one table per fused component.
    pub tables: Vec<u32>,
    pub elements: Vec<Elements>,
    pub memory_exported: bool,
}

fn val_type(t: WpValType, what: &str, file: &str) -> Result<ValType> {
    Ok(match t {
        WpValType::I32 => ValType::I32,
        WpValType::I64 => ValType::I64,
        WpValType::F32 => ValType::F32,
        WpValType::F64 => ValType::F64,
        other => {
            return Err(Error::image(
                file,
                format!("{what}: value type {other:?} is not supported (i32/i64/f32/f64 only)"),
            ))
        }
    })
}

impl WasmModule {
    /// Load a `.wasm` (or `.wat`) file.
    pub fn load(path: &std::path::Path) -> Result<WasmModule> {
        let name = path.display().to_string();
        let raw = std::fs::read(path).map_err(|e| Error::Io {
            path: name.clone(),
            source: e,
        })?;
        let bytes = if raw.starts_with(b"\0asm") {
            raw
        } else {
            wat::parse_bytes(&raw)
                .map_err(|e| Error::image(&name, format!("not wasm, and not valid WAT: {e}")))?
                .into_owned()
        };
        WasmModule::parse(bytes, &name)
    }

    pub fn parse(bytes: Vec<u8>, file: &str) -> Result<WasmModule> {
        let mut m = WasmModule {
            path: file.to_string(),
            ..Default::default()
        };
        wasmparser::Validator::new()
            .validate_all(&bytes)
            .map_err(|e| {
                Error::image(
                    file,
                    format!("invalid wasm at offset {:#x}: {}", e.offset(), e.message()),
                )
            })?;
        let werr = |e: wasmparser::BinaryReaderError| {
            Error::image(
                file,
                format!(
                    "malformed wasm at offset {:#x}: {}",
                    e.offset(),
                    e.message()
                ),
            )
        };
        let mut export_funcs = Vec::new();
        for payload in Parser::new(0).parse_all(&bytes) {
            match payload.map_err(werr)? {
                Payload::TypeSection(r) => {
                    for group in r {
                        for sub in group.map_err(werr)?.into_types() {
                            match &sub.composite_type.inner {
                                CompositeInnerType::Func(f) => {
                                    let conv = |ts: &[WpValType]| {
                                        ts.iter()
                                            .map(|t| val_type(*t, "function type", file))
                                            .collect::<Result<Vec<_>>>()
                                    };
                                    m.types.push(FuncType {
                                        params: conv(f.params())?,
                                        results: conv(f.results())?,
                                    });
                                }
                                _ => return Err(Error::image(file, "GC types are not supported")),
                            }
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp.map_err(werr)?;
                        match imp.ty {
                            TypeRef::Func(t) => {
                                m.imports.push(Import {
                                    module: imp.module.to_string(),
                                    field: imp.name.to_string(),
                                    ty: m.types[t as usize].clone(),
                                });
                                m.func_types.push(t);
                            }
                            other => {
                                return Err(Error::image(
                                    file,
                                    format!(
                                        "import {}::{} is a {other:?}: only function imports are supported",
                                        imp.module, imp.name
                                    ),
                                ))
                            }
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        m.func_types.push(t.map_err(werr)?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r {
                        let t = t.map_err(werr)?;
                        let size = u32::try_from(t.ty.initial).map_err(|_| {
                            Error::image(
                                file,
                                format!("table {} has {} entries", m.tables.len(), t.ty.initial),
                            )
                        })?;
                        m.tables.push(size);
                    }
                }
                Payload::MemorySection(r) => {
                    for mem in r {
                        let mem = mem.map_err(werr)?;
                        let mem = Memory {
                            initial_pages: mem.initial,
                            page_size: 1u64 << mem.page_size_log2.unwrap_or(16),
                        };
                        if m.memory.is_none() {
                            m.memory = Some(mem.clone());
                        }
                        m.memories.push(mem);
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g.map_err(werr)?;
                        let ty = val_type(g.ty.content_type, "global", file)?;
                        let init = const_expr(&g.init_expr, file)?;
                        if init.ty() != ty {
                            return Err(Error::image(file, "global initialiser type mismatch"));
                        }
                        m.globals.push(Global {
                            ty,
                            mutable: g.ty.mutable,
                            init,
                        });
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.map_err(werr)?;
                        match e.kind {
                            ExternalKind::Func => export_funcs.push((e.name.to_string(), e.index)),
                            ExternalKind::Memory if e.index == 0 => m.memory_exported = true,
                            _ => {}
                        }
                    }
                }
                Payload::ElementSection(r) => {
                    for el in r {
                        let el = el.map_err(werr)?;
                        let ElementKind::Active {
                            table_index,
                            offset_expr,
                        } = el.kind
                        else {
                            continue;
                        };
                        let table = table_index.unwrap_or(0);
                        let Val::I32(offset) = const_expr(&offset_expr, file)? else {
                            return Err(Error::image(file, "element offset is not i32"));
                        };
                        let funcs =
                            match el.items {
                                ElementItems::Functions(f) => f
                                    .into_iter()
                                    .collect::<std::result::Result<Vec<_>, _>>()
                                    .map_err(werr)?,
                                ElementItems::Expressions(..) => return Err(Error::image(
                                    file,
                                    "element expressions are not supported (function indices only)",
                                )),
                            };
                        m.elements.push(Elements {
                            table,
                            offset,
                            funcs,
                        });
                    }
                }
                Payload::DataSection(r) => {
                    for d in r {
                        let d = d.map_err(werr)?;
                        if let DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } = d.kind
                        {
                            let Val::I32(offset) = const_expr(&offset_expr, file)? else {
                                return Err(Error::image(file, "data offset is not i32"));
                            };
                            m.data.push((offset, d.data.to_vec()));
                        }
                    }
                }
                _ => {}
            }
        }
        for (name, func) in export_funcs {
            let ty = m.types[m.func_types[func as usize] as usize].clone();
            m.exports.push(Export { name, func, ty });
        }
        m.bytes = bytes;
        Ok(m)
    }

    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// Where each funcref table starts, in entries from the first: synth's region at R11 holds
    /// the tables one after the other (table N at R11 + 4 x the entries of tables 0..N), then
    /// the entries' type ids when the object has them. The total entry count last.
    pub fn table_bases(&self) -> (Vec<u32>, u32) {
        let mut at = 0u32;
        let bases = self
            .tables
            .iter()
            .map(|&n| {
                let b = at;
                at = at.saturating_add(n);
                b
            })
            .collect();
        (bases, at)
    }

    /// Byte offset of each global's slot in synth's globals table (4 bytes per i32/f32, 8 per
    /// i64/f64, densely packed in declaration order), and the table's size.
    pub fn global_layout(&self) -> (Vec<u32>, u32) {
        let mut off = 0;
        let slots = self
            .globals
            .iter()
            .map(|g| {
                let at = off;
                off += match g.ty {
                    ValType::I32 | ValType::F32 => 4,
                    ValType::I64 | ValType::F64 => 8,
                };
                at
            })
            .collect();
        (slots, off)
    }
}

/// Evaluate a constant expression (a single `*.const`; `global.get` of imports is not supported).
fn const_expr(e: &ConstExpr<'_>, file: &str) -> Result<Val> {
    let mut r = e.get_operators_reader();
    let op = r
        .read()
        .map_err(|e| Error::image(file, format!("constant expression: {e}")))?;
    let v = match op {
        Operator::I32Const { value } => Val::I32(value as u32),
        Operator::I64Const { value } => Val::I64(value as u64),
        Operator::F32Const { value } => Val::F32(value.bits()),
        Operator::F64Const { value } => Val::F64(value.bits()),
        other => {
            return Err(Error::image(
                file,
                format!("constant expression {other:?} is not supported (a single *.const only)"),
            ))
        }
    };
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_imports_exports_globals_data() {
        let wat = r#"(module
            (import "env" "f" (func (param i32 f64) (result f32)))
            (memory (export "memory") 2)
            (global i64 (i64.const -2))
            (global (mut f32) (f32.const 1.5))
            (table 4 funcref)
            (elem (i32.const 1) $g)
            (data (i32.const 8) "hi")
            (func $g (export "g") (param i64) (result i64) local.get 0))"#;
        let m = WasmModule::parse(wat::parse_str(wat).unwrap(), "t.wat").unwrap();
        assert_eq!(m.imports[0].field, "f");
        assert_eq!(m.imports[0].ty.params, vec![ValType::I32, ValType::F64]);
        assert_eq!(m.export("g").unwrap().func, 1);
        assert_eq!(m.memory.as_ref().unwrap().bytes(), 2 * 65536);
        assert_eq!(m.globals[0].init, Val::I64(u64::MAX - 1));
        assert_eq!(m.globals[1].init, Val::F32(1.5f32.to_bits()));
        assert_eq!(m.global_layout(), (vec![0, 8], 12));
        assert_eq!(m.data, vec![(8, b"hi".to_vec())]);
        assert_eq!(m.elements[0].offset, 1);
        assert_eq!(m.elements[0].funcs, vec![1]);
        assert!(m.memory_exported);
    }

    #[test]
    fn several_tables_and_their_element_segments() {
        // meld's shape: one table per fused component, each with its own segments.
        let wat = r#"(module
            (table $a 2 funcref) (table $b 3 funcref) (table $c 1 funcref)
            (func $f) (func $g) (func $h)
            (elem (table $a) (i32.const 1) func $f)
            (elem (table $b) (i32.const 0) func $g $h)
            (elem (table $c) (i32.const 0) func $f))"#;
        let m = WasmModule::parse(wat::parse_str(wat).unwrap(), "t.wat").unwrap();
        assert_eq!(m.tables, vec![2, 3, 1]);
        assert_eq!(m.table_bases(), (vec![0, 2, 5], 6));
        let segs: Vec<(u32, u32, Vec<u32>)> = m
            .elements
            .iter()
            .map(|e| (e.table, e.offset, e.funcs.clone()))
            .collect();
        assert_eq!(
            segs,
            vec![(0, 1, vec![0]), (1, 0, vec![1, 2]), (2, 0, vec![0])]
        );
    }

    #[test]
    fn invalid_wasm_names_file_and_offset() {
        let e = WasmModule::parse(b"\0asm\x01\0\0\0\x01\x05".to_vec(), "bad.wasm")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.wasm") && e.contains("offset"), "{e}");
    }

    #[test]
    fn values_parse_and_compare() {
        assert_eq!(Val::parse(ValType::I32, "-1").unwrap(), Val::I32(u32::MAX));
        assert_eq!(Val::parse(ValType::I64, "0x10").unwrap(), Val::I64(16));
        assert_eq!(
            Val::parse(ValType::F32, "bits:0x7fc00001").unwrap(),
            Val::F32(0x7fc0_0001)
        );
        assert!(
            Val::F32(0x7fc0_0001).same(&Val::F32(0xffc0_0000)),
            "any NaN matches any NaN"
        );
        assert!(
            !Val::F32(0x8000_0000).same(&Val::F32(0)),
            "-0 and +0 differ"
        );
        assert!(Val::parse(ValType::I32, "0x1_0000_0000").is_err());
    }
}
