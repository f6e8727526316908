//! The component model's canonical ABI, host side: an export's WIT signature turned into the
//! core call synth's code and wasmtime make, and back.
//!
//! A user's module carries its contract as WIT: in a `component-type:*` custom section (what
//! wit-bindgen and cargo-component embed) or in a `.wit` file or directory the user names. For an
//! export named `ns:pkg/iface@version#func` (or a world-level `func`), [`Wit`] finds the function;
//! [`lower`] turns WIT values (WAVE text or generated) into the core arguments, and [`lift`]
//! turns the core results back into WIT values. The guest's own allocator serves every byte the
//! host puts into its memory, as in a canonical-ABI host:
//!
//! - up to 16 flat parameters are passed as core values; more are stored as one record in
//!   memory from `cabi_realloc(0, 0, align, size)` and passed as its pointer;
//! - strings (UTF-8) and lists go to memory from `cabi_realloc`, passed as (pointer, length);
//! - a result of more than one flat value comes back through a return area whose pointer the
//!   export returns;
//! - variants, options and results flatten to a discriminant then the cases' joined payload
//!   slots (an `f32` in an `i32` slot travels as its bits, an `i32` in an `i64` slot zero-extended).
//!
//! Semantics: the Component Model's `CanonicalABI.md` (flattening, `MAX_FLAT_PARAMS` 16,
//! `MAX_FLAT_RESULTS` 1, `store`/`load`, `join`). Sizes, alignments, field offsets and flat
//! types come from `wit-parser` (`SizeAlign`, `Resolve::push_flat`, `Resolve::wasm_signature`),
//! values and their text from `wasm-wave`. Resources, futures, streams and async exports are
//! not supported (a clear error says so).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use wasm_wave::value::Type as WType;
pub use wasm_wave::value::Value;
use wasm_wave::wasm::{WasmTypeKind, WasmValue};
use wit_parser::abi::{AbiVariant, FlatTypes, WasmType as Flat};
use wit_parser::{Function, Resolve, SizeAlign, Type, TypeDefKind};

use crate::wasm::Val;
use twin_machine::{Error, Result};

/// The WIT contracts of a module: every function an export name can name.
pub struct Wit {
    resolve: Resolve,
    sizes: SizeAlign,
    /// Core export name -> function.
    funcs: BTreeMap<String, Function>,
    /// Where the WIT came from (messages).
    pub source: String,
}

impl std::fmt::Debug for Wit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wit")
            .field("source", &self.source)
            .field("functions", &self.funcs.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A core trap or host-side refusal inside a call, as text (the call's outcome, not the twin's).
pub type Trap = String;

/// What the canonical ABI needs of a guest: calls by export name and its linear memory. The ARM
/// side (a hosted module) and the wasmtime reference both provide it.
pub trait Guest {
    /// Call `export` with core values; its core results, or the trap.
    fn call(
        &mut self,
        export: &str,
        args: &[Val],
        results: usize,
    ) -> Result<std::result::Result<Vec<Val>, Trap>>;
    fn read(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>>;
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<()>;
    fn has_export(&mut self, name: &str) -> bool;
}

impl Wit {
    /// The WIT in a `.wit` file or a directory of them (with a `deps/` folder, as wit-bindgen
    /// reads it).
    pub fn load(path: &Path) -> Result<Wit> {
        let mut resolve = Resolve::default();
        resolve
            .push_path(path)
            .map_err(|e| Error::Usage(format!("{}: not valid WIT: {e:#}", path.display())))?;
        Wit::new(resolve, path.display().to_string())
    }

    /// WIT from source texts, dependencies first (`(file name, text)`: names for messages).
    pub fn from_sources(source: &str, files: &[(&str, &str)]) -> Result<Wit> {
        let mut resolve = Resolve::default();
        for (name, text) in files {
            resolve
                .push_str(name, text)
                .map_err(|e| Error::Usage(format!("{source}: {name}: not valid WIT: {e:#}")))?;
        }
        Wit::new(resolve, source.to_string())
    }

    /// The WIT embedded in a core module's `component-type:*` custom sections (wit-bindgen's
    /// and cargo-component's), or None when it has none.
    pub fn embedded(wasm: &[u8], file: &str) -> Result<Option<Wit>> {
        let mut resolve = Resolve::default();
        let mut found = false;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let payload =
                payload.map_err(|e| Error::image(file, format!("not a wasm module: {e}")))?;
            let wasmparser::Payload::CustomSection(c) = payload else {
                continue;
            };
            if !c.name().starts_with("component-type") {
                continue;
            }
            let decoded = wit_parser::decoding::decode(c.data()).map_err(|e| {
                Error::image(
                    file,
                    format!("custom section {:?} is not a WIT world: {e:#}", c.name()),
                )
            })?;
            let other = match decoded {
                wit_parser::decoding::DecodedWasm::WitPackage(r, _) => r,
                wit_parser::decoding::DecodedWasm::Component(r, _) => r,
            };
            resolve
                .merge(other)
                .map_err(|e| Error::image(file, format!("custom section {:?}: {e:#}", c.name())))?;
            found = true;
        }
        if !found {
            return Ok(None);
        }
        Wit::new(resolve, format!("{file} (embedded component-type)")).map(Some)
    }

    fn new(resolve: Resolve, source: String) -> Result<Wit> {
        let mut funcs = BTreeMap::new();
        for (id, iface) in resolve.interfaces.iter() {
            let Some(name) = resolve.id_of(id) else {
                continue;
            };
            for (fname, f) in &iface.functions {
                funcs.insert(format!("{name}#{fname}"), f.clone());
            }
        }
        for (_, world) in resolve.worlds.iter() {
            for (key, item) in &world.exports {
                if let (wit_parser::WorldKey::Name(n), wit_parser::WorldItem::Function(f)) =
                    (key, item)
                {
                    funcs.insert(n.clone(), f.clone());
                }
            }
        }
        let mut sizes = SizeAlign::default();
        sizes.fill(&resolve);
        Ok(Wit {
            resolve,
            sizes,
            funcs,
            source,
        })
    }

    /// The WIT function behind a core export name.
    pub fn function(&self, export: &str) -> Option<Func<'_>> {
        let f = self.funcs.get(export)?;
        Some(Func { wit: self, f })
    }

    /// Every export name the WIT describes.
    pub fn exports(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }
}

/// One export's WIT function.
#[derive(Clone, Copy)]
pub struct Func<'a> {
    wit: &'a Wit,
    f: &'a Function,
}

impl<'a> Func<'a> {
    pub fn name(&self) -> &str {
        &self.f.name
    }

    /// The parameters' WAVE types, in order.
    pub fn param_types(&self) -> Result<Vec<WType>> {
        self.f
            .params
            .iter()
            .map(|p| wave_type(&self.wit.resolve, &p.ty))
            .collect()
    }

    pub fn param_names(&self) -> Vec<&str> {
        self.f.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// The result's WAVE type.
    pub fn result_type(&self) -> Result<Option<WType>> {
        self.f
            .result
            .as_ref()
            .map(|t| wave_type(&self.wit.resolve, t))
            .transpose()
    }

    /// The WIT signature, as people read it.
    pub fn signature(&self) -> String {
        let r = &self.wit.resolve;
        let params: Vec<String> = self
            .f
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, type_name(r, &p.ty)))
            .collect();
        let result = self
            .f
            .result
            .as_ref()
            .map(|t| format!(" -> {}", type_name(r, t)))
            .unwrap_or_default();
        format!("func({}){result}", params.join(", "))
    }

    /// Parameter `i` built from f32s in flat field order, for a type made of records, tuples
    /// and f32 fields (the shape of every falcon-cascade record): `words` must hold exactly as
    /// many f32s as the type flattens to.
    pub fn param_from_f32s(&self, i: usize, words: &[f32]) -> Result<Value> {
        let p = self.param(i)?;
        let r = &self.wit.resolve;
        let bad = |m: String| Error::Usage(format!("{} parameter {}: {m}", self.f.name, p.name));
        let n = f32_count(r, &p.ty).map_err(bad)?;
        if n != words.len() {
            return Err(bad(format!(
                "{} f32s given, {} has {n}",
                words.len(),
                type_name(r, &p.ty)
            )));
        }
        from_f32s(r, &p.ty, &mut words.iter()).map_err(bad)
    }

    /// Parameter `i`, a record, built field by field: `get(name)` gives a field's f32s in flat
    /// order, or None, which makes an `option` field `none` and is an error for any other.
    pub fn param_from_fields(
        &self,
        i: usize,
        get: &dyn Fn(&str) -> Option<Vec<f32>>,
    ) -> Result<Value> {
        let p = self.param(i)?;
        let r = &self.wit.resolve;
        let bad = |m: String| Error::Usage(format!("{} parameter {}: {m}", self.f.name, p.name));
        let Some(TypeDefKind::Record(rec)) = kind_of(r, &p.ty) else {
            return Err(bad(format!("{} is not a record", type_name(r, &p.ty))));
        };
        let mut fields = Vec::new();
        for f in &rec.fields {
            let words = get(&f.name);
            let one = |t: &Type, w: &[f32]| -> Result<Value> {
                let mut it = w.iter();
                let v = from_f32s(r, t, &mut it).map_err(|m| bad(format!("{}: {m}", f.name)))?;
                if it.len() > 0 {
                    return Err(bad(format!("{}: {} f32s given", f.name, w.len())));
                }
                Ok(v)
            };
            let v = match (kind_of(r, &f.ty), words) {
                (Some(TypeDefKind::Option(inner)), w) => {
                    let payload = w.map(|w| one(inner, &w)).transpose()?;
                    let wt = wave_type(r, &f.ty)?;
                    Value::make_option(&wt, payload).map_err(|e| bad(e.to_string()))?
                }
                (_, Some(w)) => one(&f.ty, &w)?,
                (_, None) => {
                    return Err(bad(format!(
                        "the host has nothing for field {} ({})",
                        f.name,
                        type_name(r, &f.ty)
                    )))
                }
            };
            fields.push((f.name.as_str(), v));
        }
        let wt = wave_type(r, &p.ty)?;
        Value::make_record(&wt, fields).map_err(|e| bad(e.to_string()))
    }

    fn param(&self, i: usize) -> Result<&wit_parser::Param> {
        self.f.params.get(i).ok_or_else(|| {
            Error::Usage(format!(
                "{} has {} parameters, not {}",
                self.f.name,
                self.f.params.len(),
                i + 1
            ))
        })
    }

    /// The core signature the canonical ABI gives the export: (params, results), and whether
    /// the params are spilled and the result comes through a return area.
    fn core(&self) -> Result<wit_parser::abi::WasmSignature> {
        self.supported()?;
        Ok(self
            .wit
            .resolve
            .wasm_signature(AbiVariant::GuestExport, self.f))
    }

    fn supported(&self) -> Result<()> {
        let r = &self.wit.resolve;
        let types = self.f.params.iter().map(|p| &p.ty).chain(&self.f.result);
        for t in types {
            if let Some(why) = unsupported(r, t) {
                return Err(Error::Usage(format!(
                    "{}: {why} is not supported by the twin's canonical ABI",
                    self.f.name
                )));
            }
        }
        if !matches!(self.f.kind, wit_parser::FunctionKind::Freestanding) {
            return Err(Error::Usage(format!(
                "{}: only freestanding synchronous functions are supported",
                self.f.name
            )));
        }
        Ok(())
    }

    /// The core value types of the export's parameters and results.
    pub fn core_types(&self) -> Result<(Vec<crate::wasm::ValType>, Vec<crate::wasm::ValType>)> {
        let s = self.core()?;
        let conv = |v: &[Flat]| v.iter().map(|t| val_type(*t)).collect();
        Ok((conv(&s.params), conv(&s.results)))
    }

    /// Parse WAVE text for the parameters (`1.0, {x: 1.0, y: 2.0}`, as in a call's parentheses).
    pub fn parse_args(&self, text: &str) -> Result<Vec<Value>> {
        let call = format!("{}({text})", self.f.name);
        let untyped = wasm_wave::untyped::UntypedFuncCall::parse(&call)
            .map_err(|e| Error::Usage(format!("arguments {text:?}: {e}")))?;
        let types = self.param_types()?;
        untyped.to_wasm_params::<Value>(types.iter()).map_err(|e| {
            Error::Usage(format!(
                "arguments {text:?} for {} {}: {e}",
                self.f.name,
                self.signature()
            ))
        })
    }
}

/// Values as WAVE text (floats as WAVE prints them; NaN payloads are not kept by WAVE).
pub fn show(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| wasm_wave::to_string(v).unwrap_or_else(|e| format!("<{e}>")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn val_type(t: Flat) -> crate::wasm::ValType {
    use crate::wasm::ValType as V;
    match t {
        Flat::I32 | Flat::Pointer | Flat::Length => V::I32,
        Flat::I64 | Flat::PointerOrI64 => V::I64,
        Flat::F32 => V::F32,
        Flat::F64 => V::F64,
    }
}

/// Why a type cannot cross this canonical ABI, if it cannot.
fn unsupported(r: &Resolve, t: &Type) -> Option<String> {
    let Type::Id(id) = t else {
        return match t {
            Type::ErrorContext => Some("error-context".into()),
            _ => None,
        };
    };
    let all = |ts: &mut dyn Iterator<Item = &Type>| {
        for t in ts {
            if let Some(why) = unsupported(r, t) {
                return Some(why);
            }
        }
        None
    };
    match &r.types[*id].kind {
        TypeDefKind::Type(t) | TypeDefKind::List(t) | TypeDefKind::Option(t) => unsupported(r, t),
        TypeDefKind::FixedLengthList(t, _) => unsupported(r, t),
        TypeDefKind::Record(rec) => all(&mut rec.fields.iter().map(|f| &f.ty)),
        TypeDefKind::Tuple(tu) => all(&mut tu.types.iter()),
        TypeDefKind::Variant(v) => all(&mut v.cases.iter().filter_map(|c| c.ty.as_ref())),
        TypeDefKind::Result(res) => all(&mut res.ok.iter().chain(res.err.iter())),
        TypeDefKind::Enum(_) | TypeDefKind::Flags(_) => None,
        TypeDefKind::Handle(_) | TypeDefKind::Resource => Some("a resource".into()),
        TypeDefKind::Future(_) => Some("a future".into()),
        TypeDefKind::Stream(_) => Some("a stream".into()),
        TypeDefKind::Map(..) => Some("a map".into()),
        TypeDefKind::Unknown => Some("an unknown type".into()),
    }
}

/// A WIT type as WIT text (named types by name; anonymous lists, options, tuples and results
/// spelled out).
pub fn type_name(r: &Resolve, t: &Type) -> String {
    match t {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let td = &r.types[*id];
            if let Some(n) = &td.name {
                return n.clone();
            }
            match &td.kind {
                TypeDefKind::List(t) => format!("list<{}>", type_name(r, t)),
                TypeDefKind::Option(t) => format!("option<{}>", type_name(r, t)),
                TypeDefKind::Tuple(tu) => format!(
                    "tuple<{}>",
                    tu.types
                        .iter()
                        .map(|t| type_name(r, t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                TypeDefKind::Result(res) => {
                    let o = |t: &Option<Type>| t.as_ref().map_or("_".into(), |t| type_name(r, t));
                    format!("result<{}, {}>", o(&res.ok), o(&res.err))
                }
                TypeDefKind::Type(t) => type_name(r, t),
                _ => "?".into(),
            }
        }
    }
}

/// The WAVE type of a WIT type.
fn wave_type(r: &Resolve, t: &Type) -> Result<WType> {
    let simple = |k| WType::simple(k).expect("a simple kind");
    Ok(match t {
        Type::Bool => WType::BOOL,
        Type::U8 => WType::U8,
        Type::U16 => WType::U16,
        Type::U32 => WType::U32,
        Type::U64 => WType::U64,
        Type::S8 => WType::S8,
        Type::S16 => WType::S16,
        Type::S32 => WType::S32,
        Type::S64 => WType::S64,
        Type::F32 => WType::F32,
        Type::F64 => WType::F64,
        Type::Char => WType::CHAR,
        Type::String => simple(WasmTypeKind::String),
        Type::ErrorContext => {
            return Err(Error::Usage(
                "error-context values are not supported".into(),
            ))
        }
        Type::Id(id) => wasm_wave::value::resolve_wit_type(r, *id)
            .map_err(|e| Error::Usage(format!("WIT type {}: {e}", type_name(r, t))))?,
    })
}

/// Flat values no WIT type of a flight contract comes near (variant payloads are flattened
/// whole before joining).
const FLAT_LIMIT: usize = 4096;

/// The flat core types of `t`, or None past `max` values.
fn flat(r: &Resolve, t: &Type, max: usize) -> Option<Vec<Flat>> {
    let mut storage = vec![Flat::I32; max];
    let mut f = FlatTypes::new(&mut storage);
    r.push_flat(t, &mut f).then(|| f.to_vec())
}

/// A variant's, option's or result's cases: (case index, payload type) in order.
fn cases(kind: &TypeDefKind) -> Vec<Option<Type>> {
    match kind {
        TypeDefKind::Variant(v) => v.cases.iter().map(|c| c.ty).collect(),
        TypeDefKind::Option(t) => vec![None, Some(*t)],
        TypeDefKind::Result(res) => vec![res.ok, res.err],
        TypeDefKind::Enum(e) => vec![None; e.cases.len()],
        _ => Vec::new(),
    }
}

/// How many f32s a type made of records, tuples and f32 flattens to.
fn f32_count(r: &Resolve, t: &Type) -> std::result::Result<usize, String> {
    match (t, kind_of(r, t)) {
        (Type::F32, _) => Ok(1),
        (_, Some(TypeDefKind::Record(rec))) => rec.fields.iter().map(|f| f32_count(r, &f.ty)).sum(),
        (_, Some(TypeDefKind::Tuple(tu))) => tu.types.iter().map(|t| f32_count(r, t)).sum(),
        _ => Err(format!("{} is not made of f32 fields", type_name(r, t))),
    }
}

/// A value of `t` (records, tuples, f32) from f32s in flat order.
fn from_f32s(
    r: &Resolve,
    t: &Type,
    it: &mut std::slice::Iter<'_, f32>,
) -> std::result::Result<Value, String> {
    let short = || format!("too few f32s for {}", type_name(r, t));
    let wt = wave_type(r, t).map_err(|e| e.to_string())?;
    match (t, kind_of(r, t)) {
        (Type::F32, _) => Ok(Value::make_f32(*it.next().ok_or_else(short)?)),
        (_, Some(TypeDefKind::Record(rec))) => {
            let mut fields = Vec::new();
            for f in &rec.fields {
                fields.push((f.name.as_str(), from_f32s(r, &f.ty, it)?));
            }
            Value::make_record(&wt, fields).map_err(|e| e.to_string())
        }
        (_, Some(TypeDefKind::Tuple(tu))) => {
            let items = tu
                .types
                .iter()
                .map(|ft| from_f32s(r, ft, it))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Value::make_tuple(&wt, items).map_err(|e| e.to_string())
        }
        _ => Err(format!("{} is not made of f32 fields", type_name(r, t))),
    }
}

/// A value of a WIT number type as f64 (None for any other type).
pub fn number(v: &Value) -> Option<f64> {
    Some(match v.kind() {
        WasmTypeKind::F32 => f64::from(v.unwrap_f32()),
        WasmTypeKind::F64 => v.unwrap_f64(),
        WasmTypeKind::S8 => f64::from(v.unwrap_s8()),
        WasmTypeKind::U8 => f64::from(v.unwrap_u8()),
        WasmTypeKind::S16 => f64::from(v.unwrap_s16()),
        WasmTypeKind::U16 => f64::from(v.unwrap_u16()),
        WasmTypeKind::S32 => f64::from(v.unwrap_s32()),
        WasmTypeKind::U32 => f64::from(v.unwrap_u32()),
        WasmTypeKind::S64 => v.unwrap_s64() as f64,
        WasmTypeKind::U64 => v.unwrap_u64() as f64,
        _ => return None,
    })
}

/// The f32s of a value made of records, tuples and f32s, in flat order (a falcon-cascade
/// record as words).
pub fn f32s(v: &Value) -> std::result::Result<Vec<f32>, String> {
    fn walk(v: &Value, out: &mut Vec<f32>) -> std::result::Result<(), String> {
        match v.kind() {
            WasmTypeKind::F32 => out.push(v.unwrap_f32()),
            WasmTypeKind::Record => {
                for (_, f) in v.unwrap_record() {
                    walk(&f, out)?;
                }
            }
            WasmTypeKind::Tuple => {
                for f in v.unwrap_tuple() {
                    walk(&f, out)?;
                }
            }
            k => return Err(format!("a {k:?} where f32 fields were expected")),
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(v, &mut out)?;
    Ok(out)
}

/// The kind behind named aliases.
fn kind_of<'r>(r: &'r Resolve, mut t: &'r Type) -> Option<&'r TypeDefKind> {
    loop {
        let Type::Id(id) = t else { return None };
        match &r.types[*id].kind {
            TypeDefKind::Type(inner) => t = inner,
            k => return Some(k),
        }
    }
}

/// Which case a variant-like value is, and its payload.
fn case_of<'v>(kind: &TypeDefKind, v: &'v Value) -> Result<(usize, Option<Cow<'v, Value>>)> {
    Ok(match kind {
        TypeDefKind::Variant(var) => {
            let (name, payload) = v.unwrap_variant();
            let i = var
                .cases
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| Error::Usage(format!("no variant case {name:?}")))?;
            (i, payload)
        }
        TypeDefKind::Option(_) => match v.unwrap_option() {
            None => (0, None),
            Some(p) => (1, Some(p)),
        },
        TypeDefKind::Result(_) => match v.unwrap_result() {
            Ok(p) => (0, p),
            Err(p) => (1, p),
        },
        TypeDefKind::Enum(e) => {
            let name = v.unwrap_enum();
            let i = e
                .cases
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| Error::Usage(format!("no enum case {name:?}")))?;
            (i, None)
        }
        _ => return Err(Error::Usage("not a variant".into())),
    })
}

fn tag_size(n: usize) -> usize {
    if n <= 1 << 8 {
        1
    } else if n <= 1 << 16 {
        2
    } else {
        4
    }
}

/// A flat value moved into a joined slot of type `to` (CanonicalABI.md `lower_flat_variant`).
fn coerce_in(v: Val, to: Flat) -> Val {
    match (v, val_type(to)) {
        (Val::F32(b), crate::wasm::ValType::I32) => Val::I32(b),
        (Val::F32(b), crate::wasm::ValType::I64) => Val::I64(u64::from(b)),
        (Val::I32(x), crate::wasm::ValType::I64) => Val::I64(u64::from(x)),
        (Val::F64(b), crate::wasm::ValType::I64) => Val::I64(b),
        (v, _) => v,
    }
}

/// A joined slot's value read back as the case's type `to` (`lift_flat_variant`).
fn coerce_out(v: Val, to: Flat) -> Val {
    match (v, val_type(to)) {
        (Val::I32(b), crate::wasm::ValType::F32) => Val::F32(b),
        (Val::I64(x), crate::wasm::ValType::I32) => Val::I32(x as u32),
        (Val::I64(x), crate::wasm::ValType::F32) => Val::F32(x as u32),
        (Val::I64(b), crate::wasm::ValType::F64) => Val::F64(b),
        (v, _) => v,
    }
}

/// Lowering into one guest: its realloc serves every byte put into its memory.
struct Lower<'g, G: Guest + ?Sized> {
    wit: &'g Wit,
    guest: &'g mut G,
    realloc: &'g str,
}

/// A trap inside the guest's allocator ends the lowering: the call's outcome is that trap.
type Lowered<T> = Result<std::result::Result<T, Trap>>;

impl<G: Guest + ?Sized> Lower<'_, G> {
    fn alloc(&mut self, align: usize, size: usize) -> Lowered<u32> {
        let args = [
            Val::I32(0),
            Val::I32(0),
            Val::I32(align as u32),
            Val::I32(size as u32),
        ];
        Ok(match self.guest.call(self.realloc, &args, 1)? {
            Ok(r) => match r.first() {
                Some(Val::I32(p)) => Ok(*p),
                _ => Err(format!("{} returned no pointer", self.realloc)),
            },
            Err(t) => Err(format!("{} trapped: {t}", self.realloc)),
        })
    }

    fn size(&self, t: &Type) -> usize {
        self.wit.sizes.size(t).size_wasm32()
    }

    fn align(&self, t: &Type) -> usize {
        self.wit.sizes.align(t).align_wasm32()
    }

    /// Put a list's elements (or a string's bytes) in guest memory: (pointer, length).
    fn list(&mut self, elem: Option<&Type>, v: &Value) -> Lowered<(u32, u32)> {
        let (bytes, align, n) = match elem {
            None => {
                let s = v.unwrap_string();
                (s.as_bytes().to_vec(), 1, s.len())
            }
            Some(e) => {
                let items: Vec<Cow<Value>> = v.unwrap_list().collect();
                let (size, align) = (self.size(e), self.align(e));
                let mut buf = vec![0u8; size * items.len()];
                for (i, item) in items.iter().enumerate() {
                    if let Err(t) = self.store(e, item, &mut buf, i * size)? {
                        return Ok(Err(t));
                    }
                }
                (buf, align, items.len())
            }
        };
        let ptr = match self.alloc(align, bytes.len())? {
            Ok(p) => p,
            Err(t) => return Ok(Err(t)),
        };
        if !bytes.is_empty() {
            self.guest.write(ptr, &bytes)?;
        }
        Ok(Ok((ptr, n as u32)))
    }

    /// CanonicalABI.md `store`: `v` of type `t` into `buf` at `off`.
    fn store(&mut self, t: &Type, v: &Value, buf: &mut [u8], off: usize) -> Lowered<()> {
        let put = |buf: &mut [u8], b: &[u8]| buf[off..off + b.len()].copy_from_slice(b);
        match t {
            Type::Bool => put(buf, &[u8::from(v.unwrap_bool())]),
            Type::U8 => put(buf, &[v.unwrap_u8()]),
            Type::S8 => put(buf, &v.unwrap_s8().to_le_bytes()),
            Type::U16 => put(buf, &v.unwrap_u16().to_le_bytes()),
            Type::S16 => put(buf, &v.unwrap_s16().to_le_bytes()),
            Type::U32 => put(buf, &v.unwrap_u32().to_le_bytes()),
            Type::S32 => put(buf, &v.unwrap_s32().to_le_bytes()),
            Type::U64 => put(buf, &v.unwrap_u64().to_le_bytes()),
            Type::S64 => put(buf, &v.unwrap_s64().to_le_bytes()),
            Type::F32 => put(buf, &v.unwrap_f32().to_bits().to_le_bytes()),
            Type::F64 => put(buf, &v.unwrap_f64().to_bits().to_le_bytes()),
            Type::Char => put(buf, &u32::from(v.unwrap_char()).to_le_bytes()),
            Type::String => {
                let (p, n) = match self.list(None, v)? {
                    Ok(x) => x,
                    Err(t) => return Ok(Err(t)),
                };
                put(buf, &p.to_le_bytes());
                buf[off + 4..off + 8].copy_from_slice(&n.to_le_bytes());
            }
            Type::ErrorContext => unreachable!("refused by Func::supported"),
            Type::Id(_) => {
                let r = &self.wit.resolve;
                let kind = kind_of(r, t).expect("an Id type");
                match kind {
                    TypeDefKind::Record(rec) => {
                        let offs = self
                            .wit
                            .sizes
                            .field_offsets(rec.fields.iter().map(|f| &f.ty));
                        for ((o, ft), (_, fv)) in offs.into_iter().zip(v.unwrap_record()) {
                            let o = o.size_wasm32();
                            if let Err(e) = self.store(ft, &fv, buf, off + o)? {
                                return Ok(Err(e));
                            }
                        }
                    }
                    TypeDefKind::Tuple(tu) => {
                        let offs = self.wit.sizes.field_offsets(tu.types.iter());
                        for ((o, ft), fv) in offs.into_iter().zip(v.unwrap_tuple()) {
                            if let Err(e) = self.store(ft, &fv, buf, off + o.size_wasm32())? {
                                return Ok(Err(e));
                            }
                        }
                    }
                    TypeDefKind::FixedLengthList(e, _) => {
                        let size = self.size(e);
                        let items: Vec<Cow<Value>> = v.unwrap_list().collect();
                        for (i, item) in items.iter().enumerate() {
                            if let Err(x) = self.store(e, item, buf, off + i * size)? {
                                return Ok(Err(x));
                            }
                        }
                    }
                    TypeDefKind::List(e) => {
                        let (p, n) = match self.list(Some(e), v)? {
                            Ok(x) => x,
                            Err(t) => return Ok(Err(t)),
                        };
                        put(buf, &p.to_le_bytes());
                        buf[off + 4..off + 8].copy_from_slice(&n.to_le_bytes());
                    }
                    TypeDefKind::Flags(f) => {
                        let set: Vec<Cow<str>> = v.unwrap_flags().collect();
                        let mut bits = 0u64;
                        for (i, fl) in f.flags.iter().enumerate() {
                            if set.iter().any(|s| *s == fl.name) {
                                bits |= 1 << i;
                            }
                        }
                        let n = self.size(t);
                        put(buf, &bits.to_le_bytes()[..n]);
                    }
                    k @ (TypeDefKind::Variant(_)
                    | TypeDefKind::Option(_)
                    | TypeDefKind::Result(_)
                    | TypeDefKind::Enum(_)) => {
                        let cs = cases(k);
                        let (i, payload) = case_of(k, v)?;
                        let tag = tag_size(cs.len());
                        put(buf, &(i as u32).to_le_bytes()[..tag]);
                        if let (Some(pt), Some(pv)) = (cs[i].as_ref(), payload) {
                            let po = self
                                .wit
                                .sizes
                                .payload_offset(
                                    match k {
                                        TypeDefKind::Enum(_) => wit_parser::Int::U8,
                                        _ => int_of(tag),
                                    },
                                    cs.iter().map(Option::as_ref),
                                )
                                .size_wasm32();
                            if let Err(e) = self.store(pt, &pv, buf, off + po)? {
                                return Ok(Err(e));
                            }
                        }
                    }
                    _ => unreachable!("refused by Func::supported"),
                }
            }
        }
        Ok(Ok(()))
    }

    /// CanonicalABI.md `lower_flat`: `v` of type `t` as flat core values.
    fn flat(&mut self, t: &Type, v: &Value, out: &mut Vec<Val>) -> Lowered<()> {
        let i32 = |x: u32| Val::I32(x);
        match t {
            Type::Bool => out.push(i32(u32::from(v.unwrap_bool()))),
            Type::U8 => out.push(i32(u32::from(v.unwrap_u8()))),
            Type::S8 => out.push(i32(i32::from(v.unwrap_s8()) as u32)),
            Type::U16 => out.push(i32(u32::from(v.unwrap_u16()))),
            Type::S16 => out.push(i32(i32::from(v.unwrap_s16()) as u32)),
            Type::U32 => out.push(i32(v.unwrap_u32())),
            Type::S32 => out.push(i32(v.unwrap_s32() as u32)),
            Type::U64 => out.push(Val::I64(v.unwrap_u64())),
            Type::S64 => out.push(Val::I64(v.unwrap_s64() as u64)),
            Type::F32 => out.push(Val::F32(v.unwrap_f32().to_bits())),
            Type::F64 => out.push(Val::F64(v.unwrap_f64().to_bits())),
            Type::Char => out.push(i32(u32::from(v.unwrap_char()))),
            Type::String => match self.list(None, v)? {
                Ok((p, n)) => out.extend([i32(p), i32(n)]),
                Err(t) => return Ok(Err(t)),
            },
            Type::ErrorContext => unreachable!("refused by Func::supported"),
            Type::Id(_) => {
                let r = &self.wit.resolve;
                match kind_of(r, t).expect("an Id type") {
                    TypeDefKind::Record(rec) => {
                        for (f, (_, fv)) in rec.fields.iter().zip(v.unwrap_record()) {
                            if let Err(e) = self.flat(&f.ty, &fv, out)? {
                                return Ok(Err(e));
                            }
                        }
                    }
                    TypeDefKind::Tuple(tu) => {
                        for (ft, fv) in tu.types.iter().zip(v.unwrap_tuple()) {
                            if let Err(e) = self.flat(ft, &fv, out)? {
                                return Ok(Err(e));
                            }
                        }
                    }
                    TypeDefKind::FixedLengthList(e, _) => {
                        let items: Vec<Cow<Value>> = v.unwrap_list().collect();
                        for item in &items {
                            if let Err(x) = self.flat(e, item, out)? {
                                return Ok(Err(x));
                            }
                        }
                    }
                    TypeDefKind::List(e) => match self.list(Some(e), v)? {
                        Ok((p, n)) => out.extend([i32(p), i32(n)]),
                        Err(t) => return Ok(Err(t)),
                    },
                    TypeDefKind::Flags(_) => {
                        let mut buf = vec![0u8; self.size(t).next_multiple_of(4)];
                        if let Err(e) = self.store(t, v, &mut buf, 0)? {
                            return Ok(Err(e));
                        }
                        for w in buf.chunks_exact(4) {
                            out.push(i32(u32::from_le_bytes([w[0], w[1], w[2], w[3]])));
                        }
                    }
                    k @ (TypeDefKind::Variant(_)
                    | TypeDefKind::Option(_)
                    | TypeDefKind::Result(_)
                    | TypeDefKind::Enum(_)) => {
                        let joined = flat(r, t, FLAT_LIMIT).expect("unbounded")[1..].to_vec();
                        let cs = cases(k);
                        let (i, payload) = case_of(k, v)?;
                        out.push(i32(i as u32));
                        let mut p = Vec::new();
                        if let (Some(pt), Some(pv)) = (cs[i].as_ref(), payload) {
                            if let Err(e) = self.flat(pt, &pv, &mut p)? {
                                return Ok(Err(e));
                            }
                        }
                        for (j, slot) in joined.iter().enumerate() {
                            out.push(match p.get(j) {
                                Some(x) => coerce_in(*x, *slot),
                                None => Val::zero(val_type(*slot)),
                            });
                        }
                    }
                    _ => unreachable!("refused by Func::supported"),
                }
            }
        }
        Ok(Ok(()))
    }
}

fn int_of(tag: usize) -> wit_parser::Int {
    match tag {
        1 => wit_parser::Int::U8,
        2 => wit_parser::Int::U16,
        _ => wit_parser::Int::U32,
    }
}

/// The allocator among a module's exports: `cabi_realloc`, or wit-bindgen's versioned
/// `cabi_realloc_wit_bindgen_*`.
pub fn realloc_in(exports: &[String]) -> Option<String> {
    exports
        .iter()
        .find(|e| *e == "cabi_realloc")
        .or_else(|| exports.iter().find(|e| e.starts_with("cabi_realloc")))
        .cloned()
}

/// Lower `args` for `func` into `guest` (its allocator `realloc` serves memory): the core
/// arguments of the export, or the trap the allocator hit.
pub fn lower<G: Guest + ?Sized>(
    func: Func<'_>,
    guest: &mut G,
    realloc: Option<&str>,
    args: &[Value],
) -> Result<std::result::Result<Vec<Val>, Trap>> {
    let sig = func.core()?;
    let params = &func.f.params;
    if args.len() != params.len() {
        return Err(Error::Usage(format!(
            "{} takes {} arguments, {} given",
            func.f.name,
            params.len(),
            args.len()
        )));
    }
    let needs_memory =
        sig.indirect_params || params.iter().any(|p| uses_memory(&func.wit.resolve, &p.ty));
    let realloc = match (realloc, needs_memory) {
        (Some(r), _) => r,
        (None, false) => "",
        (None, true) => {
            return Err(Error::Usage(format!(
                "{}: its arguments go to linear memory, but the module exports no cabi_realloc",
                func.f.name
            )))
        }
    };
    let mut lw = Lower {
        wit: func.wit,
        guest,
        realloc,
    };
    if sig.indirect_params {
        let info = func.wit.sizes.record(params.iter().map(|p| &p.ty));
        let (size, align) = (info.size.size_wasm32(), info.align.align_wasm32());
        let mut buf = vec![0u8; size];
        let offs = func.wit.sizes.field_offsets(params.iter().map(|p| &p.ty));
        for ((o, t), v) in offs.into_iter().zip(args) {
            if let Err(e) = lw.store(t, v, &mut buf, o.size_wasm32())? {
                return Ok(Err(e));
            }
        }
        let ptr = match lw.alloc(align, size)? {
            Ok(p) => p,
            Err(t) => return Ok(Err(t)),
        };
        lw.guest.write(ptr, &buf)?;
        return Ok(Ok(vec![Val::I32(ptr)]));
    }
    let mut out = Vec::new();
    for (p, v) in params.iter().zip(args) {
        if let Err(e) = lw.flat(&p.ty, v, &mut out)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(out))
}

/// Whether lowering `t` puts anything in linear memory (strings and lists).
fn uses_memory(r: &Resolve, t: &Type) -> bool {
    match t {
        Type::String => true,
        Type::Id(_) => match kind_of(r, t) {
            Some(TypeDefKind::List(_)) => true,
            Some(TypeDefKind::FixedLengthList(e, _)) => uses_memory(r, e),
            Some(TypeDefKind::Record(rec)) => rec.fields.iter().any(|f| uses_memory(r, &f.ty)),
            Some(TypeDefKind::Tuple(tu)) => tu.types.iter().any(|t| uses_memory(r, t)),
            Some(TypeDefKind::Variant(v)) => v
                .cases
                .iter()
                .any(|c| c.ty.as_ref().is_some_and(|t| uses_memory(r, t))),
            Some(TypeDefKind::Option(t)) => uses_memory(r, t),
            Some(TypeDefKind::Result(res)) => res
                .ok
                .iter()
                .chain(res.err.iter())
                .any(|t| uses_memory(r, t)),
            _ => false,
        },
        _ => false,
    }
}

/// Lifting from one guest's memory.
struct Lift<'g, G: Guest + ?Sized> {
    wit: &'g Wit,
    guest: &'g mut G,
}

/// Why lifting stopped: the guest returned something its type does not allow (a call outcome,
/// like a trap), or the twin failed.
enum Fail {
    Invalid(String),
    Twin(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Twin(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Error {
        match f {
            Fail::Invalid(m) => Error::Usage(format!("not a valid value: {m}")),
            Fail::Twin(e) => e,
        }
    }
}

type LResult<T> = std::result::Result<T, Fail>;

fn bad(what: impl std::fmt::Display) -> Fail {
    Fail::Invalid(what.to_string())
}

impl<G: Guest + ?Sized> Lift<'_, G> {
    /// Guest memory the result points at; outside the memory is the guest's fault.
    fn read(&mut self, ptr: u32, len: usize) -> LResult<Vec<u8>> {
        self.guest
            .read(ptr, len as u32)
            .map_err(|e| bad(format!("{len} bytes at {ptr:#x}: {e}")))
    }

    fn list(&mut self, t: &Type, elem: Option<&Type>, ptr: u32, n: u32) -> LResult<Value> {
        let wt = wave_type(&self.wit.resolve, t)?;
        match elem {
            None => {
                let bytes = self.read(ptr, n as usize)?;
                let s = String::from_utf8(bytes).map_err(|e| bad(format!("string: {e}")))?;
                Ok(Value::make_string(Cow::Owned(s)))
            }
            Some(e) => {
                let size = self.wit.sizes.size(e).size_wasm32();
                let buf = self.read(ptr, size * n as usize)?;
                let items = (0..n as usize)
                    .map(|i| self.load(e, &buf, i * size))
                    .collect::<LResult<Vec<_>>>()?;
                Value::make_list(&wt, items).map_err(bad)
            }
        }
    }

    /// CanonicalABI.md `load`: a value of type `t` from `buf` at `off`.
    fn load(&mut self, t: &Type, buf: &[u8], off: usize) -> LResult<Value> {
        let b = |n: usize| -> LResult<&[u8]> {
            buf.get(off..off + n)
                .ok_or_else(|| bad("a field lies outside its area"))
        };
        let u32_at = |o: usize| -> LResult<u32> {
            let s = buf
                .get(o..o + 4)
                .ok_or_else(|| bad("a field lies outside its area"))?;
            Ok(u32::from_le_bytes(s.try_into().expect("4")))
        };
        Ok(match t {
            Type::Bool => Value::make_bool(b(1)?[0] != 0),
            Type::U8 => Value::make_u8(b(1)?[0]),
            Type::S8 => Value::make_s8(b(1)?[0] as i8),
            Type::U16 => Value::make_u16(u16::from_le_bytes(b(2)?.try_into().expect("2"))),
            Type::S16 => Value::make_s16(i16::from_le_bytes(b(2)?.try_into().expect("2"))),
            Type::U32 => Value::make_u32(u32_at(off)?),
            Type::S32 => Value::make_s32(u32_at(off)? as i32),
            Type::U64 => Value::make_u64(u64::from_le_bytes(b(8)?.try_into().expect("8"))),
            Type::S64 => Value::make_s64(i64::from_le_bytes(b(8)?.try_into().expect("8"))),
            Type::F32 => Value::make_f32(f32::from_bits(u32_at(off)?)),
            Type::F64 => Value::make_f64(f64::from_bits(u64::from_le_bytes(
                b(8)?.try_into().expect("8"),
            ))),
            Type::Char => Value::make_char(
                char::from_u32(u32_at(off)?).ok_or_else(|| bad("a char is not a scalar value"))?,
            ),
            Type::String => {
                let (p, n) = (u32_at(off)?, u32_at(off + 4)?);
                self.list(t, None, p, n)?
            }
            Type::ErrorContext => unreachable!("refused by Func::supported"),
            Type::Id(_) => {
                let r = &self.wit.resolve;
                let wt = wave_type(r, t)?;
                match kind_of(r, t).expect("an Id type") {
                    TypeDefKind::Record(rec) => {
                        let offs = self
                            .wit
                            .sizes
                            .field_offsets(rec.fields.iter().map(|f| &f.ty));
                        let mut fields = Vec::new();
                        for ((o, ft), f) in offs.into_iter().zip(&rec.fields) {
                            fields.push((
                                f.name.as_str(),
                                self.load(ft, buf, off + o.size_wasm32())?,
                            ));
                        }
                        Value::make_record(&wt, fields).map_err(bad)?
                    }
                    TypeDefKind::Tuple(tu) => {
                        let offs = self.wit.sizes.field_offsets(tu.types.iter());
                        let items = offs
                            .into_iter()
                            .map(|(o, ft)| self.load(ft, buf, off + o.size_wasm32()))
                            .collect::<LResult<Vec<_>>>()?;
                        Value::make_tuple(&wt, items).map_err(bad)?
                    }
                    TypeDefKind::FixedLengthList(e, n) => {
                        let size = self.wit.sizes.size(e).size_wasm32();
                        let items = (0..*n as usize)
                            .map(|i| self.load(e, buf, off + i * size))
                            .collect::<LResult<Vec<_>>>()?;
                        Value::make_list(&wt, items).map_err(bad)?
                    }
                    TypeDefKind::List(e) => {
                        let (p, n) = (u32_at(off)?, u32_at(off + 4)?);
                        let e = *e;
                        self.list(t, Some(&e), p, n)?
                    }
                    TypeDefKind::Flags(f) => {
                        let n = self.wit.sizes.size(t).size_wasm32();
                        let mut word = [0u8; 8];
                        word[..n].copy_from_slice(b(n)?);
                        let bits = u64::from_le_bytes(word);
                        let names: Vec<&str> = f
                            .flags
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits >> i & 1 == 1)
                            .map(|(_, fl)| fl.name.as_str())
                            .collect();
                        Value::make_flags(&wt, names).map_err(bad)?
                    }
                    k @ (TypeDefKind::Variant(_)
                    | TypeDefKind::Option(_)
                    | TypeDefKind::Result(_)
                    | TypeDefKind::Enum(_)) => {
                        let k = k.clone();
                        let cs = cases(&k);
                        let tag = tag_size(cs.len());
                        let mut word = [0u8; 4];
                        word[..tag].copy_from_slice(b(tag)?);
                        let i = u32::from_le_bytes(word) as usize;
                        if i >= cs.len() {
                            return Err(bad(format!("discriminant {i} of {} cases", cs.len())));
                        }
                        let payload = match &cs[i] {
                            Some(pt) => {
                                let po = self
                                    .wit
                                    .sizes
                                    .payload_offset(int_of(tag), cs.iter().map(Option::as_ref))
                                    .size_wasm32();
                                Some(self.load(pt, buf, off + po)?)
                            }
                            None => None,
                        };
                        make_case(&k, &wt, i, payload)?
                    }
                    _ => unreachable!("refused by Func::supported"),
                }
            }
        })
    }

    /// CanonicalABI.md `lift_flat`: a value of type `t` from the flat values `vals`.
    fn flat(&mut self, t: &Type, vals: &mut std::slice::Iter<'_, Val>) -> LResult<Value> {
        let mut next = || {
            vals.next()
                .copied()
                .ok_or_else(|| bad("fewer core results than the type flattens to"))
        };
        let word = |v: Val| v.bits() as u32;
        Ok(match t {
            Type::Bool => Value::make_bool(word(next()?) != 0),
            Type::U8 => Value::make_u8(word(next()?) as u8),
            Type::S8 => Value::make_s8(word(next()?) as i8),
            Type::U16 => Value::make_u16(word(next()?) as u16),
            Type::S16 => Value::make_s16(word(next()?) as i16),
            Type::U32 => Value::make_u32(word(next()?)),
            Type::S32 => Value::make_s32(word(next()?) as i32),
            Type::U64 => Value::make_u64(next()?.bits()),
            Type::S64 => Value::make_s64(next()?.bits() as i64),
            Type::F32 => Value::make_f32(f32::from_bits(word(next()?))),
            Type::F64 => Value::make_f64(f64::from_bits(next()?.bits())),
            Type::Char => Value::make_char(
                char::from_u32(word(next()?)).ok_or_else(|| bad("a char is not a scalar value"))?,
            ),
            Type::String => {
                let (p, n) = (word(next()?), word(next()?));
                self.list(t, None, p, n)?
            }
            Type::ErrorContext => unreachable!("refused by Func::supported"),
            Type::Id(_) => {
                let r = &self.wit.resolve;
                let wt = wave_type(r, t)?;
                let kind = kind_of(r, t).expect("an Id type").clone();
                match &kind {
                    TypeDefKind::Record(rec) => {
                        let mut fields = Vec::new();
                        for f in &rec.fields {
                            fields.push((f.name.as_str(), self.flat(&f.ty, vals)?));
                        }
                        Value::make_record(&wt, fields).map_err(bad)?
                    }
                    TypeDefKind::Tuple(tu) => {
                        let items = tu
                            .types
                            .iter()
                            .map(|ft| self.flat(ft, vals))
                            .collect::<LResult<Vec<_>>>()?;
                        Value::make_tuple(&wt, items).map_err(bad)?
                    }
                    TypeDefKind::FixedLengthList(e, n) => {
                        let items = (0..*n)
                            .map(|_| self.flat(e, vals))
                            .collect::<LResult<Vec<_>>>()?;
                        Value::make_list(&wt, items).map_err(bad)?
                    }
                    TypeDefKind::List(e) => {
                        let (p, n) = (word(next()?), word(next()?));
                        self.list(t, Some(e), p, n)?
                    }
                    TypeDefKind::Flags(_) => {
                        let n = self.wit.sizes.size(t).size_wasm32().div_ceil(4);
                        let mut buf = Vec::new();
                        for _ in 0..n {
                            buf.extend(word(next()?).to_le_bytes());
                        }
                        self.load(t, &buf, 0)?
                    }
                    TypeDefKind::Variant(_)
                    | TypeDefKind::Option(_)
                    | TypeDefKind::Result(_)
                    | TypeDefKind::Enum(_) => {
                        let joined = flat(r, t, FLAT_LIMIT).expect("unbounded")[1..].to_vec();
                        let cs = cases(&kind);
                        let i = word(next()?) as usize;
                        if i >= cs.len() {
                            return Err(bad(format!("discriminant {i} of {} cases", cs.len())));
                        }
                        let mut slots = Vec::new();
                        for _ in &joined {
                            slots.push(next()?);
                        }
                        let payload = match &cs[i] {
                            Some(pt) => {
                                let want = flat(r, pt, FLAT_LIMIT).expect("unbounded");
                                let vs: Vec<Val> = want
                                    .iter()
                                    .zip(&slots)
                                    .map(|(w, v)| coerce_out(*v, *w))
                                    .collect();
                                Some(self.flat(pt, &mut vs.iter())?)
                            }
                            None => None,
                        };
                        make_case(&kind, &wt, i, payload)?
                    }
                    _ => unreachable!("refused by Func::supported"),
                }
            }
        })
    }
}

fn make_case(kind: &TypeDefKind, wt: &WType, i: usize, payload: Option<Value>) -> LResult<Value> {
    match kind {
        TypeDefKind::Variant(v) => Value::make_variant(wt, &v.cases[i].name, payload),
        TypeDefKind::Option(_) => Value::make_option(wt, payload),
        TypeDefKind::Result(_) => {
            Value::make_result(wt, if i == 0 { Ok(payload) } else { Err(payload) })
        }
        TypeDefKind::Enum(e) => Value::make_enum(wt, &e.cases[i].name),
        _ => unreachable!("a variant-like kind"),
    }
    .map_err(bad)
}

/// Lift the export's core results into its WIT result (None for a function without one), or
/// why they are not a valid value of its type.
pub fn lift<G: Guest + ?Sized>(
    func: Func<'_>,
    guest: &mut G,
    results: &[Val],
) -> Result<std::result::Result<Option<Value>, Trap>> {
    match lift_inner(func, guest, results) {
        Ok(v) => Ok(Ok(v)),
        Err(Fail::Invalid(m)) => Ok(Err(format!("returned an invalid {}: {m}", func.f.name))),
        Err(Fail::Twin(e)) => Err(e),
    }
}

fn lift_inner<G: Guest + ?Sized>(
    func: Func<'_>,
    guest: &mut G,
    results: &[Val],
) -> LResult<Option<Value>> {
    let sig = func.core()?;
    let Some(t) = func.f.result.as_ref() else {
        return Ok(None);
    };
    let mut lf = Lift {
        wit: func.wit,
        guest,
    };
    if sig.retptr {
        let Some(Val::I32(ptr)) = results.first() else {
            return Err(bad("no return-area pointer"));
        };
        let size = func.wit.sizes.size(t).size_wasm32();
        let buf = lf.read(*ptr, size)?;
        return lf.load(t, &buf, 0).map(Some);
    }
    lf.flat(t, &mut results.iter()).map(Some)
}

/// Call `export` with WIT values on `guest`: lower, call, lift, then `cabi_post_<export>` when
/// the module has one. The lifted result (None without one), or the trap.
pub fn call<G: Guest + ?Sized>(
    func: Func<'_>,
    guest: &mut G,
    export: &str,
    realloc: Option<&str>,
    args: &[Value],
) -> Result<std::result::Result<Option<Value>, Trap>> {
    let core = match lower(func, guest, realloc, args)? {
        Ok(c) => c,
        Err(t) => return Ok(Err(t)),
    };
    let nres = func.core()?.results.len();
    let results = match guest.call(export, &core, nres)? {
        Ok(r) => r,
        Err(t) => return Ok(Err(t)),
    };
    let value = match lift(func, guest, &results)? {
        Ok(v) => v,
        Err(t) => return Ok(Err(t)),
    };
    let post = format!("cabi_post_{export}");
    if guest.has_export(&post) {
        if let Err(t) = guest.call(&post, &results, 0)? {
            return Ok(Err(format!("{post} trapped: {t}")));
        }
    }
    Ok(Ok(value))
}

/// The canonical ABI of a function whose parameters and result are made of f32 alone
/// (records, tuples and f32: falcon-cascade's records), worked out once ([`Func::f32_plan`]): a
/// record of n f32 fields flattens to n f32 values and lies in memory as n little-endian words,
/// 4-byte aligned, so [`call_f32`] lowers and lifts words directly, without building values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct F32Plan {
    /// Each parameter's f32 count.
    pub params: Vec<usize>,
    /// More than 16 flat values: the parameters go as one record through `cabi_realloc`.
    pub indirect: bool,
    /// The result's f32 count (None: no result).
    pub result: Option<usize>,
    /// More than one flat result: it comes through the return area the export returns.
    pub retptr: bool,
    /// The function's name (messages).
    pub name: String,
}

impl Func<'_> {
    /// The function's [`F32Plan`], when its parameters and result are made of f32 alone.
    pub fn f32_plan(&self) -> Option<F32Plan> {
        let r = &self.wit.resolve;
        let sig = self.core().ok()?;
        let params = self
            .f
            .params
            .iter()
            .map(|p| f32_count(r, &p.ty).ok())
            .collect::<Option<Vec<_>>>()?;
        let result = match &self.f.result {
            Some(t) => Some(f32_count(r, t).ok()?),
            None => None,
        };
        Some(F32Plan {
            params,
            indirect: sig.indirect_params,
            result,
            retptr: sig.retptr,
            name: self.f.name.clone(),
        })
    }
}

/// [`call`] for a function with an [`F32Plan`], on its arguments as f32 words: the same core
/// calls (the allocator for spilled parameters, the export, `cabi_post_<export>` when `post`)
/// and the same bytes in memory. The result's f32s, or the trap.
pub fn call_f32<G: Guest + ?Sized>(
    plan: &F32Plan,
    guest: &mut G,
    export: &str,
    realloc: Option<&str>,
    post: bool,
    args: &[&[f32]],
) -> Result<std::result::Result<Vec<f32>, Trap>> {
    let counts: Vec<usize> = args.iter().map(|a| a.len()).collect();
    if counts != plan.params {
        return Err(Error::Usage(format!(
            "{} takes parameters of {:?} f32s, given {counts:?}",
            plan.name, plan.params
        )));
    }
    let words = args.iter().flat_map(|a| a.iter());
    let core: Vec<Val> = if plan.indirect {
        let Some(realloc) = realloc else {
            return Err(Error::Usage(format!(
                "{}: its arguments go to linear memory, but the module exports no cabi_realloc",
                plan.name
            )));
        };
        let bytes: Vec<u8> = words.flat_map(|x| x.to_le_bytes()).collect();
        let alloc = [
            Val::I32(0),
            Val::I32(0),
            Val::I32(4),
            Val::I32(bytes.len() as u32),
        ];
        let ptr = match guest.call(realloc, &alloc, 1)? {
            Ok(r) => match r.first() {
                Some(Val::I32(p)) => *p,
                _ => return Ok(Err(format!("{realloc} returned no pointer"))),
            },
            Err(t) => return Ok(Err(format!("{realloc} trapped: {t}"))),
        };
        guest.write(ptr, &bytes)?;
        vec![Val::I32(ptr)]
    } else {
        words.map(|x| Val::F32(x.to_bits())).collect()
    };
    let nres = match plan.result {
        None => 0,
        Some(_) if plan.retptr => 1,
        Some(n) => n,
    };
    let results = match guest.call(export, &core, nres)? {
        Ok(r) => r,
        Err(t) => return Ok(Err(t)),
    };
    let invalid = |m: String| format!("returned an invalid {}: {m}", plan.name);
    let out = match plan.result {
        None => Vec::new(),
        Some(n) if plan.retptr => {
            let Some(Val::I32(ptr)) = results.first() else {
                return Ok(Err(invalid("no return-area pointer".into())));
            };
            match guest.read(*ptr, 4 * n as u32) {
                Ok(b) => b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Err(e) => return Ok(Err(invalid(format!("{} bytes at {ptr:#x}: {e}", 4 * n)))),
            }
        }
        Some(_) => {
            let mut v = Vec::new();
            for r in &results {
                match r {
                    Val::F32(b) => v.push(f32::from_bits(*b)),
                    other => return Ok(Err(invalid(format!("a {} result", other.ty())))),
                }
            }
            v
        }
    };
    if post {
        let post = format!("cabi_post_{export}");
        if let Err(t) = guest.call(&post, &results, 0)? {
            return Ok(Err(format!("{post} trapped: {t}")));
        }
    }
    Ok(Ok(out))
}

/// Float values tried in every float field before random ones: zeros, ones, the extremes,
/// the smallest normal and subnormal, infinities, NaN.
const F32_EDGES: [f32; 11] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    1.0e-45,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
];

/// How many leading cases use edge values ([`generate`]).
pub const EDGE_CASES: usize = F32_EDGES.len();

/// Values for case `k` of a function's parameters. Cases below [`EDGE_CASES`] put an edge
/// float in each float field (a different one per field, rotating), the smallest and largest
/// integers, empty and one-element lists; later cases are random: floats finite, half of them
/// in a physical range (|x| < 100), half anywhere in the finite range.
pub fn generate(func: Func<'_>, k: usize, rng: &mut crate::rng::Rng) -> Result<Vec<Value>> {
    let mut g = Gen {
        r: &func.wit.resolve,
        k,
        field: 0,
        rng,
    };
    func.f.params.iter().map(|p| g.value(&p.ty)).collect()
}

struct Gen<'a> {
    r: &'a Resolve,
    k: usize,
    /// Scalars generated so far in this case (rotates the edge values across fields).
    field: usize,
    rng: &'a mut crate::rng::Rng,
}

impl Gen<'_> {
    fn edge(&self) -> bool {
        self.k < EDGE_CASES
    }

    fn pick(&mut self, n: usize) -> usize {
        if self.edge() {
            (self.k + self.field) % n
        } else {
            (self.rng.next_u64() % n as u64) as usize
        }
    }

    fn int(&mut self, edges: &[u64]) -> u64 {
        self.field += 1;
        if self.edge() {
            edges[(self.k + self.field) % edges.len()]
        } else {
            self.rng.next_u64()
        }
    }

    fn f32(&mut self) -> f32 {
        self.field += 1;
        if self.edge() {
            return F32_EDGES[(self.k + self.field) % F32_EDGES.len()];
        }
        let bits = self.rng.next_u64();
        if bits & 1 == 0 {
            ((bits >> 8) as u32 as f32 / u32::MAX as f32 - 0.5) * 200.0
        } else {
            let x = f32::from_bits((bits >> 32) as u32);
            if x.is_finite() {
                x
            } else {
                f32::from_bits((bits >> 32) as u32 & 0xBF7F_FFFF)
            }
        }
    }

    fn f64(&mut self) -> f64 {
        self.field += 1;
        if self.edge() {
            return f64::from(F32_EDGES[(self.k + self.field) % F32_EDGES.len()]);
        }
        let bits = self.rng.next_u64();
        if bits & 1 == 0 {
            ((bits >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 200.0
        } else {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                x
            } else {
                f64::from_bits(bits & 0xBFEF_FFFF_FFFF_FFFF)
            }
        }
    }

    fn len(&mut self) -> usize {
        self.field += 1;
        if self.edge() {
            self.k % 3
        } else {
            (self.rng.next_u64() % 5) as usize
        }
    }

    fn value(&mut self, t: &Type) -> Result<Value> {
        let r = self.r;
        Ok(match t {
            Type::Bool => Value::make_bool(self.int(&[0, 1]) & 1 == 1),
            Type::U8 => Value::make_u8(self.int(&[0, 1, 0xFF]) as u8),
            Type::S8 => Value::make_s8(self.int(&[0, 0x80, 0x7F, 0xFF]) as i8),
            Type::U16 => Value::make_u16(self.int(&[0, 1, 0xFFFF]) as u16),
            Type::S16 => Value::make_s16(self.int(&[0, 0x8000, 0x7FFF, 0xFFFF]) as i16),
            Type::U32 => Value::make_u32(self.int(&[0, 1, u32::MAX as u64]) as u32),
            Type::S32 => {
                Value::make_s32(self.int(&[0, 0x8000_0000, 0x7FFF_FFFF, 0xFFFF_FFFF]) as i32)
            }
            Type::U64 => Value::make_u64(self.int(&[0, 1, u64::MAX])),
            Type::S64 => Value::make_s64(self.int(&[0, 1 << 63, u64::MAX >> 1, u64::MAX]) as i64),
            Type::F32 => Value::make_f32(self.f32()),
            Type::F64 => Value::make_f64(self.f64()),
            Type::Char => {
                let c = self.int(&['a' as u64, '\0' as u64, 0x10FFFF, 0xE9]) as u32 % 0x11_0000;
                Value::make_char(char::from_u32(c).unwrap_or('?'))
            }
            Type::String => {
                let n = self.len();
                let s: String = (0..n)
                    .map(|_| char::from(b'a' + (self.rng.next_u64() % 26) as u8))
                    .collect();
                Value::make_string(Cow::Owned(s))
            }
            Type::ErrorContext => return Err(Error::Usage("error-context".into())),
            Type::Id(_) => {
                let wt = wave_type(r, t)?;
                let kind = kind_of(r, t).expect("an Id type");
                match kind {
                    TypeDefKind::Record(rec) => {
                        let mut fields = Vec::new();
                        for f in &rec.fields {
                            fields.push((f.name.as_str(), self.value(&f.ty)?));
                        }
                        Value::make_record(&wt, fields).map_err(gen_err)?
                    }
                    TypeDefKind::Tuple(tu) => {
                        let items = tu
                            .types
                            .iter()
                            .map(|ft| self.value(ft))
                            .collect::<Result<Vec<_>>>()?;
                        Value::make_tuple(&wt, items).map_err(gen_err)?
                    }
                    TypeDefKind::FixedLengthList(e, n) => {
                        let items = (0..*n).map(|_| self.value(e)).collect::<Result<Vec<_>>>()?;
                        Value::make_list(&wt, items).map_err(gen_err)?
                    }
                    TypeDefKind::List(e) => {
                        let n = self.len();
                        let items = (0..n).map(|_| self.value(e)).collect::<Result<Vec<_>>>()?;
                        Value::make_list(&wt, items).map_err(gen_err)?
                    }
                    TypeDefKind::Flags(f) => {
                        let bits = self.int(&[0, u64::MAX, 1]);
                        let names: Vec<&str> = f
                            .flags
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| bits >> (i % 64) & 1 == 1)
                            .map(|(_, fl)| fl.name.as_str())
                            .collect();
                        Value::make_flags(&wt, names).map_err(gen_err)?
                    }
                    TypeDefKind::Variant(_)
                    | TypeDefKind::Option(_)
                    | TypeDefKind::Result(_)
                    | TypeDefKind::Enum(_) => {
                        let cs = cases(kind);
                        // Options and results: the payload case most of the time.
                        let i = match kind {
                            TypeDefKind::Option(_) if !self.edge() => {
                                usize::from(self.rng.next_u64() % 4 != 0)
                            }
                            _ => self.pick(cs.len()),
                        };
                        let payload = match &cs[i] {
                            Some(pt) => Some(self.value(pt)?),
                            None => None,
                        };
                        make_case(kind, &wt, i, payload)?
                    }
                    _ => {
                        return Err(Error::Usage(format!(
                            "cannot generate values of {}",
                            type_name(r, t)
                        )))
                    }
                }
            }
        })
    }
}

fn gen_err(e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("generating a value: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIT: &str = r#"
package test:layout@0.1.0;
interface shapes {
  record point { x: f32, y: f32, z: f32 }
  record mixed { a: u8, b: u32, c: u16, d: f64 }
  record state { qw: f32, qx: f32, qy: f32, qz: f32, pn: f32, pe: f32, pd: f32,
                 vn: f32, ve: f32, vd: f32, wx: f32, wy: f32, wz: f32, innovation: f32 }
  variant cmd { stop, go(point), turn(f32), jump(u64) }
  estimate: func(ax: f32, ay: f32, az: f32, gx: f32, gy: f32, gz: f32) -> state;
  tick: func(s: state, target: point, yaw: f32) -> point;
  mixed-in: func(m: mixed, c: cmd) -> option<f32>;
}
world w { export shapes; }
"#;

    fn wit() -> Wit {
        let mut r = Resolve::default();
        r.push_str("t.wit", WIT).unwrap();
        Wit::new(r, "t.wit".into()).unwrap()
    }

    /// Known answers from CanonicalABI.md: sizes and alignments, a 14-f32 record through a
    /// return area, 18 params spilled, a variant's joined slots.
    #[test]
    fn layouts_and_core_signatures_follow_the_canonical_abi() {
        let w = wit();
        let f = w.function("test:layout/shapes@0.1.0#estimate").unwrap();
        let (p, r) = f.core_types().unwrap();
        use crate::wasm::ValType::*;
        assert_eq!(p, vec![F32; 6]);
        assert_eq!(r, vec![I32], "14 flat results: a return-area pointer");
        let s = w.function("test:layout/shapes@0.1.0#tick").unwrap();
        assert_eq!(
            s.core_types().unwrap(),
            (vec![I32], vec![I32]),
            "18 params spill"
        );
        let m = w.function("test:layout/shapes@0.1.0#mixed-in").unwrap();
        // mixed: u8 u32 u16 f64 = 4 flat; cmd: tag + join(f32 x3 | f32 | i64) = [i64, f32, f32]
        // with the first slot i64 (f32 joined with i64); option<f32>: tag + f32 = 2 results.
        assert_eq!(
            m.core_types().unwrap(),
            (vec![I32, I32, I32, F64, I32, I64, F32, F32], vec![I32])
        );
        let r = &w.resolve;
        let mixed = r
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("mixed"))
            .map(|(id, _)| Type::Id(id))
            .unwrap();
        // u8 @0, u32 @4, u16 @8, f64 @16: size 24, align 8.
        assert_eq!(w.sizes.size(&mixed).size_wasm32(), 24);
        assert_eq!(w.sizes.align(&mixed).align_wasm32(), 8);
    }

    #[test]
    fn wave_arguments_parse_against_the_signature() {
        let w = wit();
        let f = w.function("test:layout/shapes@0.1.0#mixed-in").unwrap();
        let v = f
            .parse_args("{a: 1, b: 2, c: 3, d: 0.5}, go({x: 1.0, y: 2.0, z: 3.0})")
            .unwrap();
        assert_eq!(
            show(&v),
            "{a: 1, b: 2, c: 3, d: 0.5}, go({x: 1, y: 2, z: 3})"
        );
        let e = f.parse_args("{a: 1}").unwrap_err().to_string();
        assert!(e.contains("mixed-in"), "{e}");
    }

    /// Generated cases put each edge float in some field within the first cases, and random
    /// cases are finite.
    #[test]
    fn generated_records_cover_edges_then_finite_values() {
        let w = wit();
        let f = w.function("test:layout/shapes@0.1.0#estimate").unwrap();
        let mut rng = crate::rng::Rng::new(7);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..EDGE_CASES {
            for v in generate(f, k, &mut rng).unwrap() {
                seen.insert(v.unwrap_f32().to_bits());
            }
        }
        for e in F32_EDGES {
            let b = if e.is_nan() { 0x7FC0_0000 } else { e.to_bits() };
            assert!(seen.contains(&b), "edge {e} never generated");
        }
        for k in EDGE_CASES..EDGE_CASES + 50 {
            for v in generate(f, k, &mut rng).unwrap() {
                assert!(v.unwrap_f32().is_finite());
            }
        }
    }
}
