//! The build-time half of the embedder ABI for the HIL firmware (synth's
//! `docs/embedder-abi-relocatable-arm.md`, summarised in ../shared/reference/pulseengine.md §1B).
//!
//! synth's relocatable object carries no data-segment bytes and no global initial values (built
//! with `--embedder-data-init --embedder-global-init`): the embedder applies them from the
//! companion `.wasm`. Here the firmware's build script reads that `.wasm` and writes Rust tables
//! (`wasm_init.rs`): the size of memory 0, the active data segments of memory 0, and the globals
//! table image (packed in index order, 4 bytes per i32/f32, 8 per i64/f64). It also checks that
//! the object is one the firmware can link: ELF32 ET_REL for ARM, relocations only of the types
//! synth documents, and no undefined symbol but the run-time ABI helpers `compiler_builtins`
//! provides (the flight module has no imports; a module with imports needs host functions the
//! HIL firmware does not have).

use std::fmt::Write as _;
use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile32, FileHeader, Rel, SectionHeader, Sym};
use object::Endianness;

/// What the firmware needs from the `.wasm` to initialise the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmInit {
    /// Memory 0's initial size in bytes (R10).
    pub memory_bytes: u32,
    /// Active data segments of memory 0: (offset, bytes).
    pub data: Vec<(u32, Vec<u8>)>,
    /// The globals table image (R9).
    pub globals: Vec<u8>,
    /// CRC-32C of the `.wasm` file: the firmware reports it so the host can check that the
    /// board runs the module the scenario names.
    pub crc: u32,
}

fn const_value(e: &wasmparser::ConstExpr<'_>, what: &str) -> Result<Vec<u8>, String> {
    use wasmparser::Operator as O;
    let mut r = e.get_operators_reader();
    let op = r.read().map_err(|e| format!("{what}: {e}"))?;
    let bytes = match op {
        O::I32Const { value } => value.to_le_bytes().to_vec(),
        O::I64Const { value } => value.to_le_bytes().to_vec(),
        O::F32Const { value } => value.bits().to_le_bytes().to_vec(),
        O::F64Const { value } => value.bits().to_le_bytes().to_vec(),
        other => return Err(format!("{what}: unsupported constant expression {other:?}")),
    };
    match r.read() {
        Ok(O::End) => Ok(bytes),
        _ => Err(format!(
            "{what}: only a single constant is supported as an initialiser"
        )),
    }
}

/// Read the `.wasm` the object was compiled from.
pub fn read_wasm(path: &Path) -> Result<WasmInit, String> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: {e}"))?;
    let mut memory_bytes = None;
    let mut data = Vec::new();
    let mut globals = Vec::new();
    let mut elements = false;
    let mut reads_tables = None;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        let payload = payload.map_err(|e| format!("{file}: not a valid wasm module: {e}"))?;
        use wasmparser::Payload as P;
        match payload {
            P::ImportSection(r) if r.count() > 0 => {
                return Err(format!(
                    "{file}: the module has {} imports; the HIL firmware hosts only modules without imports",
                    r.count()
                ));
            }
            P::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(|e| format!("{file}: memory section: {e}"))?;
                    if memory_bytes.is_none() {
                        if m.memory64 {
                            return Err(format!("{file}: memory64 is not supported"));
                        }
                        memory_bytes = Some(
                            u32::try_from(m.initial * 65536)
                                .map_err(|_| format!("{file}: memory 0 is larger than 4 GiB"))?,
                        );
                    }
                }
            }
            P::GlobalSection(r) => {
                for (i, g) in r.into_iter().enumerate() {
                    let g = g.map_err(|e| format!("{file}: global section: {e}"))?;
                    let v = const_value(&g.init_expr, &format!("{file}: global {i}"))?;
                    globals.extend_from_slice(&v);
                }
            }
            P::ElementSection(r) if r.count() > 0 => elements = true,
            P::CodeSectionEntry(body) => {
                let mut ops = body
                    .get_operators_reader()
                    .map_err(|e| format!("{file}: code section: {e}"))?;
                while !ops.eof() {
                    let op = ops
                        .read()
                        .map_err(|e| format!("{file}: code section: {e}"))?;
                    use wasmparser::Operator as O;
                    let name = match op {
                        O::CallIndirect { .. } => "call_indirect",
                        O::ReturnCallIndirect { .. } => "return_call_indirect",
                        O::TableGet { .. } => "table.get",
                        O::TableCopy { .. } => "table.copy",
                        O::TableInit { .. } => "table.init",
                        _ => continue,
                    };
                    reads_tables.get_or_insert(name);
                }
            }
            P::DataSection(r) => {
                for (i, d) in r.into_iter().enumerate() {
                    let d = d.map_err(|e| format!("{file}: data section: {e}"))?;
                    if let wasmparser::DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = d.kind
                    {
                        let off = const_value(&offset_expr, &format!("{file}: data segment {i}"))?;
                        let off = u32::from_le_bytes(off[..4].try_into().expect("4 bytes"));
                        data.push((off, d.data.to_vec()));
                    }
                }
            }
            _ => {}
        }
    }
    // Tables nothing reads (wit-bindgen's and cargo-component's modules keep one whose
    // entries nothing calls, reference/pulseengine.md 4.2) need no filling.
    if let (true, Some(op)) = (elements, reads_tables) {
        return Err(format!(
            "{file}: the module fills a funcref table and reads it ({op}); the HIL firmware does not fill tables"
        ));
    }
    let memory_bytes = memory_bytes.ok_or_else(|| format!("{file}: the module has no memory"))?;
    for (off, d) in &data {
        if u64::from(*off) + d.len() as u64 > u64::from(memory_bytes) {
            return Err(format!(
                "{file}: data segment at {off:#x} (+{}) runs past memory 0 ({memory_bytes} bytes)",
                d.len()
            ));
        }
    }
    Ok(WasmInit {
        memory_bytes,
        data,
        globals,
        crc: hil_proto::crc32c(&bytes),
    })
}

/// Rust source for [`WasmInit`]: `MEMORY_BYTES`, `DATA`, `GLOBALS_BYTES`, `GLOBALS_INIT`,
/// `FLIGHT_CRC`.
pub fn rust_tables(w: &WasmInit) -> String {
    let mut s = String::from("// Generated by hil-build from the flight module's .wasm.\n");
    let _ = writeln!(s, "pub const MEMORY_BYTES: usize = {};", w.memory_bytes);
    let _ = writeln!(s, "pub const FLIGHT_CRC: u32 = {:#010x};", w.crc);
    let _ = writeln!(s, "pub const GLOBALS_BYTES: usize = {};", w.globals.len());
    let _ = writeln!(
        s,
        "pub static GLOBALS_INIT: [u8; {}] = {:?};",
        w.globals.len(),
        w.globals
    );
    s.push_str("pub static DATA: &[(u32, &[u8])] = &[\n");
    for (off, d) in &w.data {
        let _ = writeln!(s, "    ({off:#x}, &{d:?}),");
    }
    s.push_str("];\n");
    s
}

/// The relocation types synth emits (pulseengine.md §1B) and that the firmware's linker (lld)
/// resolves: R_ARM_ABS32, R_ARM_THM_CALL, R_ARM_THM_MOVW_ABS_NC, R_ARM_THM_MOVT_ABS.
/// R_ARM_MOVW_ABS_NC / R_ARM_MOVT_ABS (43/44, the A32 forms) are refused: synth 0.89 emits them
/// on Thumb instructions, where lld would apply the A32 encoding.
const LINKABLE: [u32; 4] = [
    elf::R_ARM_ABS32,
    elf::R_ARM_THM_PC22, // R_ARM_THM_CALL (10)
    elf::R_ARM_THM_MOVW_ABS_NC,
    elf::R_ARM_THM_MOVT_ABS,
];

/// Check that `path` is a synth object the firmware can link; returns its exported (global,
/// defined) function names.
pub fn check_object(path: &Path) -> Result<Vec<String>, String> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: {e}"))?;
    let elf = ElfFile32::<Endianness>::parse(&*bytes)
        .map_err(|e| format!("{file}: not an ELF32 object: {e}"))?;
    let endian = elf.endian();
    let header = elf.elf_header();
    if header.e_type(endian) != elf::ET_REL || header.e_machine(endian) != elf::EM_ARM {
        return Err(format!(
            "{file}: not a relocatable ARM object (e_type {}, e_machine {})",
            header.e_type(endian),
            header.e_machine(endian)
        ));
    }
    let sections = header
        .sections(endian, &*bytes)
        .map_err(|e| format!("{file}: section headers: {e}"))?;
    let symtab = sections
        .symbols(endian, &*bytes, elf::SHT_SYMTAB)
        .map_err(|e| format!("{file}: symbol table: {e}"))?;
    let mut exports = Vec::new();
    for sym in symtab.iter() {
        let name = String::from_utf8_lossy(symtab.symbol_name(endian, sym).unwrap_or(b""));
        if sym.is_undefined(endian) && !name.is_empty() && !name.starts_with("__aeabi_") {
            return Err(format!(
                "{file}: undefined symbol {name:?}: the module imports a function the HIL firmware does not provide"
            ));
        }
        if sym.st_bind() == elf::STB_GLOBAL && !sym.is_undefined(endian) {
            exports.push(name.into_owned());
        }
    }
    for (i, s) in sections.iter().enumerate() {
        if s.sh_type(endian) != elf::SHT_REL {
            continue;
        }
        let rels: &[elf::Rel32<Endianness>] = s
            .data_as_array(endian, &*bytes)
            .map_err(|e| format!("{file}: relocation section {i}: {e}"))?;
        for (j, r) in rels.iter().enumerate() {
            let kind = r.r_type(endian);
            if !LINKABLE.contains(&kind) {
                return Err(format!(
                    "{file}: relocation {j} of section {i} (offset {:#x}) has type {kind}, which the HIL firmware's linker cannot apply to synth's Thumb code (linkable: {LINKABLE:?})",
                    r.r_offset(endian)
                ));
            }
        }
    }
    Ok(exports)
}

/// Where the CM7 sees the CM4's TCMs [rt1176.md 1.1]: (CM4 address, CM7 alias, size).
const M4_WINDOWS: [(u32, u32, u32); 2] = [
    (0x1FFE_0000, 0x2020_0000, 0x2_0000), // code TCM
    (0x2000_0000, 0x2022_0000, 0x2_0000), // system TCM
];

/// The CM7's address of the CM4's address `a`, when the CM7 can reach it.
pub fn m4_to_m7(a: u32) -> Option<u32> {
    M4_WINDOWS
        .iter()
        .find(|(base, _, size)| a >= *base && a - base < *size)
        .map(|(base, alias, _)| alias + (a - base))
}

/// The CM4 image the CM7 image carries and copies into the CM4's TCMs before releasing it (as
/// the SDK's multicore boot does, rt1176.md 1.3): Rust source for `M4_BOOT` (the vector table,
/// CM7 view, for IOMUXC_LPSR_GPR0/1) and `M4_IMAGE` (CM7 address, bytes) per loadable segment,
/// whose bytes go to `out_dir`.
pub fn m4_image_tables(elf_path: &Path, out_dir: &Path) -> Result<String, String> {
    use object::read::elf::ProgramHeader;
    use object::{Object, ObjectSection};
    let file = elf_path.display().to_string();
    let bytes = std::fs::read(elf_path).map_err(|e| format!("{file}: {e}"))?;
    let elf = ElfFile32::<Endianness>::parse(&*bytes)
        .map_err(|e| format!("{file}: not an ELF32 image: {e}"))?;
    let endian = elf.endian();
    let vt = elf
        .section_by_name(".vector_table")
        .ok_or_else(|| format!("{file}: no .vector_table section"))?
        .address() as u32;
    let boot = m4_to_m7(vt)
        .ok_or_else(|| format!("{file}: vector table at {vt:#x} is outside the CM4's TCMs"))?;
    let mut s = format!(
        "pub const M4_BOOT: u32 = {boot:#010x};\npub static M4_IMAGE: &[(u32, &[u8])] = &[\n"
    );
    for (i, ph) in elf.elf_program_headers().iter().enumerate() {
        if ph.p_type(endian) != elf::PT_LOAD || ph.p_filesz(endian) == 0 {
            continue;
        }
        let at = ph.p_paddr(endian);
        let data = ph
            .data(endian, &*bytes)
            .map_err(|_| format!("{file}: segment {i}: data out of the file"))?;
        let last = at + data.len() as u32 - 1;
        let m7 = m4_to_m7(at)
            .filter(|&a| m4_to_m7(last) == Some(a + (last - at)))
            .ok_or_else(|| {
                format!(
                    "{file}: segment {i} at {at:#x} (+{}) is outside the CM4's TCMs",
                    data.len()
                )
            })?;
        let bin = out_dir.join(format!("m4-segment{i}.bin"));
        std::fs::write(&bin, data).map_err(|e| format!("{}: {e}", bin.display()))?;
        let _ = writeln!(
            s,
            "    ({m7:#010x}, include_bytes!({:?})),",
            bin.display().to_string()
        );
    }
    s.push_str("];\n");
    Ok(s)
}

/// For a firmware build script: hand cortex-m-rt's `link.x` the crate's `memory.x` and the
/// workspace's `device.x` (no named device interrupts: hil-common provides the table).
pub fn cortex_m_rt_link() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for (from, to) in [("memory.x", "memory.x"), ("../device.x", "device.x")] {
        std::fs::copy(from, out.join(to)).unwrap_or_else(|e| panic!("copying {from}: {e}"));
        println!("cargo:rerun-if-changed={from}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
}

/// For a firmware build script: check the object named by `$HIL_OBJECT`, link it, and write
/// `$OUT_DIR/wasm_init.rs` from `$HIL_WASM`. `need` are the exports the firmware calls.
pub fn configure(need: &[&str]) {
    configure_with(need, None)
}

/// [`configure`], and for the CM7 image also the CM4 image it carries (`$HIL_M4_ELF`, written
/// to `$OUT_DIR/m4_image.rs` by [`m4_image_tables`]).
pub fn configure_cm7(need: &[&str]) {
    configure_with(need, Some("HIL_M4_ELF"))
}

fn configure_with(need: &[&str], m4_var: Option<&str>) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: build the HIL firmware with targets/hil/build.sh")
        })
    };
    for v in ["HIL_OBJECT", "HIL_WASM"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let object = var("HIL_OBJECT");
    let wasm = var("HIL_WASM");
    println!("cargo:rerun-if-changed={object}");
    println!("cargo:rerun-if-changed={wasm}");
    let exports = check_object(Path::new(&object)).unwrap_or_else(|e| panic!("{e}"));
    for n in need {
        assert!(
            exports.iter().any(|e| e == n),
            "{object}: no export {n:?} (exports: {exports:?})"
        );
    }
    let init = read_wasm(Path::new(&wasm)).unwrap_or_else(|e| panic!("{e}"));
    let out = std::path::PathBuf::from(var("OUT_DIR"));
    std::fs::write(out.join("wasm_init.rs"), rust_tables(&init))
        .unwrap_or_else(|e| panic!("writing wasm_init.rs: {e}"));
    if let Some(v) = m4_var {
        println!("cargo:rerun-if-env-changed={v}");
        let m4 = var(v);
        println!("cargo:rerun-if-changed={m4}");
        let src = m4_image_tables(Path::new(&m4), &out).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(out.join("m4_image.rs"), src)
            .unwrap_or_else(|e| panic!("writing m4_image.rs: {e}"));
    }
    println!("cargo:rustc-link-arg={object}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_are_packed_in_index_order_and_data_kept() {
        let wasm = wat::parse_str(
            r#"(module (memory 1)
                 (global i32 (i32.const 7)) (global f64 (f64.const 1.5))
                 (global (mut i32) (i32.const -1))
                 (data (i32.const 16) "hi"))"#,
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("hil-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.wasm");
        std::fs::write(&p, &wasm).unwrap();
        let w = read_wasm(&p).unwrap();
        assert_eq!(w.memory_bytes, 65536);
        assert_eq!(w.data, vec![(16, b"hi".to_vec())]);
        let mut g = 7i32.to_le_bytes().to_vec();
        g.extend_from_slice(&1.5f64.to_le_bytes());
        g.extend_from_slice(&(-1i32).to_le_bytes());
        assert_eq!(w.globals, g, "4 + 8 + 4 bytes, in index order");
        // A known CRC-32C answer: "123456789" -> 0xE3069283.
        assert_eq!(hil_proto::crc32c(b"123456789"), 0xE306_9283);
        let src = rust_tables(&w);
        assert!(src.contains("pub const MEMORY_BYTES: usize = 65536;"));
        assert!(src.contains("(0x10, &[104, 105]),"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_table_nothing_reads_is_accepted_and_one_that_is_read_refused() {
        let dir = std::env::temp_dir().join(format!("hil-build-tab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let read = |name: &str, body: &str| {
            let src = format!(
                r#"(module (memory 1) (type $t (func (result i32)))
                     (table 2 funcref) (elem (i32.const 1) func $f)
                     (func $f (result i32) i32.const 7)
                     (func (export "g") (result i32) {body}))"#
            );
            let p = dir.join(name);
            std::fs::write(&p, wat::parse_str(&src).unwrap()).unwrap();
            read_wasm(&p)
        };
        assert!(read("unread.wasm", "call $f").is_ok());
        let e = read("read.wasm", "i32.const 1 call_indirect (type $t)").unwrap_err();
        assert!(
            e.contains("read.wasm") && e.contains("call_indirect") && e.contains("does not fill"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_module_with_imports_is_refused_with_the_file_named() {
        let wasm = wat::parse_str(r#"(module (import "env" "f" (func)))"#).unwrap();
        let dir = std::env::temp_dir().join(format!("hil-build-imp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("imp.wasm");
        std::fs::write(&p, &wasm).unwrap();
        let e = read_wasm(&p).unwrap_err();
        assert!(e.contains("imp.wasm") && e.contains("1 imports"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
