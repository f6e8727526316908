//! ELF executables (ET_EXEC) for bare-metal runs: PT_LOAD segments at their physical (load)
//! addresses, the vector table, and the symbols kept for reports.

use object::elf;
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::error::{Error, Result};
use crate::symbols::Symbols;

#[derive(Debug, Clone)]
pub struct Segment {
    pub index: usize,
    pub addr: u32,
    pub data: Vec<u8>,
    pub mem_size: u32,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub path: String,
    pub segments: Vec<Segment>,
    pub entry: u32,
    /// Where the vector table is: the `.vector_table` section, else the lowest loaded address.
    pub vector_table: u32,
    pub symbols: Symbols,
}

impl Image {
    /// A bare image at `base`: a 256-entry vector table (the initial SP, then every vector at
    /// the code) and `code` after it at `base + 0x400` (raw Thumb code: tests and fuzzing).
    pub fn bare(path: &str, base: u32, sp: u32, code: &[u8]) -> Image {
        let entry = (base + 0x400) | 1;
        let mut bytes = Vec::with_capacity(0x400 + code.len());
        bytes.extend_from_slice(&sp.to_le_bytes());
        for _ in 1..256 {
            bytes.extend_from_slice(&entry.to_le_bytes());
        }
        bytes.extend_from_slice(code);
        Image {
            path: path.into(),
            segments: vec![Segment {
                index: 0,
                addr: base,
                mem_size: bytes.len() as u32,
                data: bytes,
            }],
            entry,
            vector_table: base,
            symbols: Default::default(),
        }
    }

    pub fn load(path: &std::path::Path) -> Result<Image> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: name.clone(),
            source: e,
        })?;
        Image::parse(&bytes, &name)
    }

    pub fn parse(bytes: &[u8], name: &str) -> Result<Image> {
        let bad = |m: String| Error::image(name, m);
        if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
            return Err(bad("not an ELF file (no \\x7fELF magic)".into()));
        }
        if bytes.len() > 4 && bytes[4] != elf::ELFCLASS32 {
            return Err(bad(
                "a 64-bit ELF: expected a 32-bit ARM executable for a Cortex-M core".into(),
            ));
        }
        let file = ElfFile32::<Endianness>::parse(bytes)
            .map_err(|e| bad(format!("malformed ELF: {e}")))?;
        let header = file.elf_header();
        let endian = file.endian();
        let machine = header.e_machine(endian);
        if machine != elf::EM_ARM {
            return Err(bad(format!(
                "wrong machine {} ({machine}): expected ARM (40)",
                machine_name(machine)
            )));
        }
        if !file.is_little_endian() {
            return Err(bad(
                "big-endian ARM: the Cortex-M cores are little-endian".into()
            ));
        }
        let kind = header.e_type(endian);
        if kind != elf::ET_EXEC {
            let what = if kind == elf::ET_REL {
                "a relocatable object (ET_REL): link it, or host it as synth output"
            } else {
                "not an executable (e_type is not ET_EXEC)"
            };
            return Err(bad(what.into()));
        }
        let phdrs = header
            .program_headers(endian, bytes)
            .map_err(|e| bad(format!("malformed program headers: {e}")))?;
        let mut segments = Vec::new();
        for (index, ph) in phdrs.iter().enumerate() {
            if ph.p_type(endian) != elf::PT_LOAD || ph.p_memsz(endian) == 0 {
                continue;
            }
            let data = ph
                .data(endian, bytes)
                .map_err(|_| {
                    bad(format!(
                        "segment {index}: file data at offset {:#x} (+{:#x}) runs past the end of the file (truncated?)",
                        ph.p_offset(endian),
                        ph.p_filesz(endian)
                    ))
                })?
                .to_vec();
            segments.push(Segment {
                index,
                addr: ph.p_paddr(endian),
                data,
                mem_size: ph.p_memsz(endian),
            });
        }
        if segments.is_empty() {
            return Err(bad("no loadable segment (PT_LOAD)".into()));
        }
        let vector_table = file
            .section_by_name(".vector_table")
            .map(|s| s.address() as u32)
            .unwrap_or_else(|| {
                segments
                    .iter()
                    .filter(|s| !s.data.is_empty())
                    .map(|s| s.addr)
                    .min()
                    .unwrap_or(0)
            });
        let symbols = Symbols::new(
            file.symbols()
                .filter(|s| {
                    s.is_definition() && matches!(s.kind(), SymbolKind::Text | SymbolKind::Data)
                })
                .filter_map(|s| {
                    let n = s.name().ok()?;
                    (!n.is_empty() && !n.starts_with('$'))
                        .then(|| ((s.address() as u32) & !1, s.size() as u32, n.to_string()))
                })
                .collect(),
        );
        Ok(Image {
            path: name.to_string(),
            segments,
            entry: file.entry() as u32,
            vector_table,
            symbols,
        })
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        elf::EM_386 => "x86",
        elf::EM_X86_64 => "x86-64",
        elf::EM_AARCH64 => "AArch64",
        elf::EM_RISCV => "RISC-V",
        elf::EM_XTENSA => "Xtensa",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_host_binaries() {
        let e = Image::parse(b"hello", "x.elf").unwrap_err().to_string();
        assert!(e.contains("x.elf") && e.contains("not an ELF"), "{e}");
        let host = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = Image::parse(&host, "host").unwrap_err().to_string();
        assert!(e.contains("64-bit") || e.contains("wrong machine"), "{e}");
    }

    #[test]
    fn rejects_truncated_header() {
        let mut b = b"\x7fELF".to_vec();
        b.extend_from_slice(&[1, 1, 1, 0]);
        b.resize(20, 0);
        let e = Image::parse(&b, "t.elf").unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
    }
}
