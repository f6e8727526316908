//! The SoC as data: a board file (RON) describes the cores, each core's memory map, the shared RAMs,
//! the clock roots and every peripheral with its base and IRQ per core. The machine is built from
//! it; no address lives in the Rust code.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The built-in board (`targets/rt1176.ron`), used when no board file is given.
pub const RT1176_RON: &str = include_str!("../../../targets/rt1176.ron");

#[derive(Debug, Clone, Deserialize)]
pub struct Board {
    pub name: String,
    pub rams: Vec<Ram>,
    pub cores: Vec<CoreDesc>,
    #[serde(default)]
    pub clock_roots: BTreeMap<String, u64>,
    #[serde(default)]
    pub spaces: Vec<Space>,
    pub peripherals: Vec<Periph>,
    /// Devices on the SPI buses, each selected by a GPIO pin (active low).
    #[serde(default)]
    pub spi_devices: Vec<SpiDev>,
    /// Devices on the I2C buses, by address.
    #[serde(default)]
    pub i2c_devices: Vec<I2cDev>,
    /// The UART the GNSS receiver sends its UBX frames into (an LPUART's name).
    #[serde(default)]
    pub gnss_uart: Option<String>,
    /// The UART whose far end is the IO MCU (PX4IO protocol, `devices::px4io`).
    #[serde(default)]
    pub io_uart: Option<String>,
}

/// A device on an LPI2C bus.
#[derive(Debug, Clone, Deserialize)]
pub struct I2cDev {
    /// The LPI2C peripheral's name.
    pub bus: String,
    pub part: Part,
    /// Its 7-bit address.
    pub address: u8,
}

/// A device on an LPSPI bus (rt1176.md 5.1: chip selects and data-ready lines are GPIOs).
#[derive(Debug, Clone, Deserialize)]
pub struct SpiDev {
    /// The LPSPI peripheral's name.
    pub bus: String,
    pub part: Part,
    /// Chip select: (GPIO peripheral, pin), active low, pulled up on the board.
    pub cs: (String, u32),
    /// The device's data-ready output, when the board wires it: (GPIO peripheral, pin).
    #[serde(default)]
    pub drdy: Option<(String, u32)>,
}

/// The parts the twin models (`twin_machine::devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Part {
    /// TDK ICM-42688-P (WHO_AM_I 0x47).
    Icm42688p,
    /// TDK ICM-42686-P: the same register map, WHO_AM_I 0x44.
    Icm42686p,
    /// Bosch BMP388 barometer (I2C).
    Bmp388,
    /// Bosch BMM150 magnetometer (I2C).
    Bmm150,
}

impl Part {
    /// Whether the part sits on an I2C bus (else SPI).
    pub fn is_i2c(self) -> bool {
        matches!(self, Part::Bmp388 | Part::Bmm150)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ram {
    pub id: String,
    pub size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CpuModel {
    CortexM7,
    CortexM4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Fpu {
    None,
    SinglePrecision,
    DoublePrecision,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "Core")]
pub struct CoreDesc {
    pub name: String,
    pub model: CpuModel,
    pub clock_hz: u64,
    pub fpu: Fpu,
    /// Charge every instruction this many cycles instead of the CPU model's timing table
    /// (`targets/cpu/`; docs/time.md): for comparison with the instruction counts of old.
    #[serde(default, deserialize_with = "plain_some")]
    pub cycles_per_insn: Option<u32>,
    /// Wait states of every access to a peripheral on the SoC bus (the core's own private
    /// peripheral bus, NVIC/SysTick/DWT, costs none): docs/time.md.
    #[serde(default)]
    pub peripheral_wait_states: u32,
    /// Where hosted wasm code and data go (window names of `memory`).
    #[serde(default)]
    pub hosting: Option<Hosting>,
    pub memory: Vec<Window>,
}

/// The most wait states a window may have (a fetch slower than that is not a RAM).
pub const MAX_WAIT_STATES: u32 = 100;

/// An optional number written plainly (`cycles_per_insn: 1`, as board files always had it).
fn plain_some<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u32>, D::Error> {
    u32::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hosting {
    /// The window that receives code (linked object, trampolines).
    pub code: String,
    /// Windows for data, in order of preference: globals and stack go in the first; linear
    /// memory in the first that can hold it.
    pub data: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Window {
    pub name: String,
    pub base: u32,
    pub size: u32,
    pub ram: String,
    #[serde(default)]
    pub offset: u32,
    /// Wait states per 32-bit instruction fetch from this window and per data access to it
    /// (TCM: 0; docs/time.md).
    #[serde(default)]
    pub wait_states: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Space {
    pub name: String,
    pub base: u32,
    pub size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MuSide {
    A,
    B,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum Model {
    Mu {
        side: MuSide,
    },
    Src,
    LpsrGpr,
    Ccm,
    Gpt {
        clock: String,
    },
    Pit {
        clock: String,
    },
    Lpuart {
        clock: String,
    },
    Lpspi {
        clock: String,
    },
    Lpi2c {
        clock: String,
    },
    /// FlexPWM: `irqs` is submodule 0's line, submodules 1-3 the next ones.
    FlexPwm {
        clock: String,
    },
    /// Pin mux and pad control: plain storage.
    PadMux,
    Gpio,
    /// Reads as zero, writes ignored (the board says so explicitly).
    Ignore,
    /// Exists on silicon, not modelled: an access is a twin error.
    Unmodelled,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Periph {
    pub name: String,
    pub base: u32,
    pub size: u32,
    pub model: Model,
    /// IRQ line per core name.
    #[serde(default)]
    pub irqs: BTreeMap<String, u32>,
    /// A second IRQ line per core name (GPIO1-5: pins 16-31; `irqs` then serves pins 0-15).
    #[serde(default)]
    pub irqs_high: BTreeMap<String, u32>,
}

/// Number of external interrupts of the RT1176 NVIC (rt1176.md section 4).
pub const EXTERNAL_IRQS: u32 = 218;

impl Board {
    /// The built-in RT1176 board.
    pub fn rt1176() -> Board {
        Board::parse(RT1176_RON, "targets/rt1176.ron").expect("built-in board file is valid")
    }

    pub fn load(path: &Path) -> Result<Board> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Board::parse(&text, &path.display().to_string())
    }

    /// A board from its text (`file` names it in errors): numbers finite, every value in
    /// range, errors at the line and column that wrote the value where it can be placed.
    pub fn parse(text: &str, file: &str) -> Result<Board> {
        crate::rontext::check_numbers(text, file)?;
        let board: Board = ron::from_str(text).map_err(|e| Error::Ron {
            file: file.to_string(),
            line: e.position.line,
            column: e.position.col,
            message: e.code.to_string(),
        })?;
        board.validate(text, file)?;
        Ok(board)
    }

    pub fn core_index(&self, name: &str) -> Option<usize> {
        self.cores.iter().position(|c| c.name == name)
    }

    pub fn ram(&self, id: &str) -> Option<&Ram> {
        self.rams.iter().find(|r| r.id == id)
    }

    fn validate(&self, text: &str, file: &str) -> Result<()> {
        let bad = |message: String| Error::Board {
            file: file.to_string(),
            message,
        };
        if self.cores.is_empty() || self.cores.len() > 2 {
            return Err(bad(format!(
                "expected one or two cores, found {}",
                self.cores.len()
            )));
        }
        for (i, core) in self.cores.iter().enumerate() {
            if core.clock_hz == 0 || 1_000_000_000_000 % core.clock_hz != 0 {
                return Err(crate::rontext::invalid(
                    text,
                    file,
                    &format!("cores[{i}].clock_hz"),
                    &format!(
                        "core {}: clock {} Hz must divide 1 THz (virtual time is kept in picoseconds)",
                        core.name, core.clock_hz
                    ),
                ));
            }
            if core.cycles_per_insn == Some(0) || core.cycles_per_insn > Some(1000) {
                return Err(crate::rontext::invalid(
                    text,
                    file,
                    &format!("cores[{i}].cycles_per_insn"),
                    &format!("core {}: cycles_per_insn must be 1..1000", core.name),
                ));
            }
            if core.peripheral_wait_states > MAX_WAIT_STATES {
                return Err(crate::rontext::invalid(
                    text,
                    file,
                    &format!("cores[{i}].peripheral_wait_states"),
                    &format!(
                        "core {}: {} wait states (at most {MAX_WAIT_STATES})",
                        core.name, core.peripheral_wait_states
                    ),
                ));
            }
            let mut spans: Vec<(u64, u64, &str)> = Vec::new();
            for (j, w) in core.memory.iter().enumerate() {
                if w.wait_states > MAX_WAIT_STATES {
                    return Err(crate::rontext::invalid(
                        text,
                        file,
                        &format!("cores[{i}].memory[{j}].wait_states"),
                        &format!(
                            "core {}: window {}: {} wait states (at most {MAX_WAIT_STATES})",
                            core.name, w.name, w.wait_states
                        ),
                    ));
                }
                let ram = self.ram(&w.ram).ok_or_else(|| {
                    bad(format!(
                        "core {}: window {} names unknown RAM {:?}",
                        core.name, w.name, w.ram
                    ))
                })?;
                if w.base % 0x1000 != 0 || w.size % 0x1000 != 0 || w.size == 0 {
                    return Err(bad(format!(
                        "core {}: window {} must be 4 KiB aligned and sized",
                        core.name, w.name
                    )));
                }
                if u64::from(w.offset) + u64::from(w.size) > u64::from(ram.size) {
                    return Err(bad(format!(
                        "core {}: window {} runs past the end of RAM {}",
                        core.name, w.name, ram.id
                    )));
                }
                spans.push((
                    u64::from(w.base),
                    u64::from(w.base) + u64::from(w.size),
                    &w.name,
                ));
            }
            for p in &self.peripherals {
                spans.push((
                    u64::from(p.base),
                    u64::from(p.base) + u64::from(p.size),
                    &p.name,
                ));
                for (cname, irq) in p.irqs.iter().chain(&p.irqs_high) {
                    if self.core_index(cname).is_none() {
                        return Err(bad(format!(
                            "peripheral {}: IRQ for unknown core {cname:?}",
                            p.name
                        )));
                    }
                    if *irq >= EXTERNAL_IRQS {
                        return Err(bad(format!(
                            "peripheral {}: IRQ {irq} is past the {EXTERNAL_IRQS} external IRQs",
                            p.name
                        )));
                    }
                }
                if let Model::Gpt { clock }
                | Model::Pit { clock }
                | Model::Lpuart { clock }
                | Model::Lpspi { clock }
                | Model::Lpi2c { clock }
                | Model::FlexPwm { clock } = &p.model
                {
                    if !self.clock_roots.contains_key(clock) {
                        return Err(bad(format!(
                            "peripheral {}: unknown clock root {clock:?}",
                            p.name
                        )));
                    }
                }
            }
            if let Some(h) = &core.hosting {
                for w in std::iter::once(&h.code).chain(h.data.iter()) {
                    if !core.memory.iter().any(|m| &m.name == w) {
                        return Err(bad(format!(
                            "core {}: hosting names unknown window {w:?}",
                            core.name
                        )));
                    }
                }
            }
            spans.sort();
            for pair in spans.windows(2) {
                if pair[1].0 < pair[0].1 {
                    return Err(bad(format!(
                        "core {}: {} overlaps {}",
                        core.name, pair[0].2, pair[1].2
                    )));
                }
            }
        }
        for d in &self.spi_devices {
            let model = |name: &str| {
                self.peripherals
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| &p.model)
            };
            if !matches!(model(&d.bus), Some(Model::Lpspi { .. })) || d.part.is_i2c() {
                return Err(bad(format!(
                    "SPI device {:?}: {} is not an LPSPI of this board, or the part is not an SPI part",
                    d.part, d.bus
                )));
            }
            let pins = std::iter::once(&d.cs).chain(d.drdy.as_ref());
            if pins
                .into_iter()
                .any(|(g, pin)| !matches!(model(g), Some(Model::Gpio)) || *pin >= 32)
            {
                return Err(bad(format!(
                    "SPI device {:?} on {}: its chip select or data-ready pin is not a GPIO pin of this board",
                    d.part, d.bus
                )));
            }
        }
        for (field, u) in [("gnss_uart", &self.gnss_uart), ("io_uart", &self.io_uart)] {
            let Some(u) = u else { continue };
            let is_uart = self
                .peripherals
                .iter()
                .any(|p| &p.name == u && matches!(p.model, Model::Lpuart { .. }));
            if !is_uart {
                return Err(bad(format!("{field} {u:?} is not an LPUART of this board")));
            }
        }
        if self.io_uart.is_some() && self.io_uart == self.gnss_uart {
            return Err(bad("io_uart and gnss_uart are the same UART".to_string()));
        }
        for d in &self.i2c_devices {
            let on_lpi2c = self
                .peripherals
                .iter()
                .any(|p| p.name == d.bus && matches!(p.model, Model::Lpi2c { .. }));
            if !on_lpi2c || d.address > 0x7F || !d.part.is_i2c() {
                return Err(bad(format!(
                    "I2C device {:?} at {:#04x}: {} is not an LPI2C of this board, the address is not 7-bit, or the part is not an I2C part",
                    d.part, d.address, d.bus
                )));
            }
        }
        for s in &self.spaces {
            if s.base % 0x1000 != 0 || s.size % 0x1000 != 0 {
                return Err(bad(format!("space {} must be 4 KiB aligned", s.name)));
            }
        }
        for p in &self.peripherals {
            let inside = self.spaces.iter().any(|s| {
                u64::from(p.base) >= u64::from(s.base)
                    && u64::from(p.base) + u64::from(p.size)
                        <= u64::from(s.base) + u64::from(s.size)
            });
            if !inside {
                return Err(bad(format!(
                    "peripheral {} at {:#010x} lies in no peripheral space",
                    p.name, p.base
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_board_matches_reference_addresses() {
        let b = Board::rt1176();
        let m7 = &b.cores[b.core_index("m7").unwrap()];
        let m4 = &b.cores[b.core_index("m4").unwrap()];
        assert_eq!(m7.clock_hz, 1_000_000_000);
        assert_eq!(m4.clock_hz, 400_000_000);
        let win = |c: &CoreDesc, base: u32| c.memory.iter().find(|w| w.base == base).cloned();
        // rt1176.md 1.1: 0x2000_0000 is a different RAM on each core.
        assert_eq!(win(m7, 0x2000_0000).unwrap().ram, "dtcm");
        assert_eq!(win(m4, 0x2000_0000).unwrap().ram, "m4_sys_tcm");
        // The CM4 code TCM is the same RAM as the alias at 0x2020_0000 seen by both.
        assert_eq!(win(m4, 0x1FFE_0000).unwrap().ram, "m4_code_tcm");
        assert_eq!(win(m7, 0x2020_0000).unwrap().ram, "m4_code_tcm");
        let mua = b.peripherals.iter().find(|p| p.name == "MUA").unwrap();
        assert_eq!(mua.base, 0x40C4_8000);
        assert_eq!(mua.irqs.get("m7"), Some(&118));
        let mub = b.peripherals.iter().find(|p| p.name == "MUB").unwrap();
        assert_eq!(mub.base, 0x40C4_C000);
        assert_eq!(mub.irqs.get("m4"), Some(&118));
    }

    #[test]
    fn ron_errors_carry_line_and_column() {
        let err = Board::parse("Board(name: \"x\",\n  rams: [oops],", "bad.ron").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.ron:2:"), "{text}");
    }

    #[test]
    fn out_of_range_and_non_finite_values_are_placed() {
        // The line and column of the second core's clock, found in the file's text.
        let (line, col) = RT1176_RON
            .lines()
            .enumerate()
            .filter_map(|(n, l)| {
                l.find("clock_hz:")
                    .map(|c| (n + 1, c + 1 + "clock_hz: ".len()))
            })
            .nth(1)
            .unwrap();
        let second = RT1176_RON.match_indices("clock_hz:").nth(1).unwrap().0;
        let mut text = RT1176_RON.to_string();
        let end = second + text[second..].find(',').unwrap();
        text.replace_range(second..end, "clock_hz: 0");
        let err = Board::parse(&text, "x.ron").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("x.ron:{line}:{col}: cores[1].clock_hz: core ")),
            "{err}"
        );
        let mut text = RT1176_RON.to_string();
        text.replace_range(second..end, "clock_hz: NaN");
        let err = Board::parse(&text, "x.ron").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("x.ron:{line}:{col}: `NaN` is not a finite number")),
            "{err}"
        );
    }

    #[test]
    fn too_many_wait_states_are_placed() {
        let window =
            r#"Window(name: "code TCM",      base: 0x1FFE0000, size: 0x20000, ram: "m4_code_tcm""#;
        let text = RT1176_RON.replace(window, &format!("{window}, wait_states: 101"));
        let at = text.find("wait_states: 101").unwrap();
        let line = text[..at].lines().count();
        let col = at - text[..at].rfind('\n').unwrap() + "wait_states: ".len();
        let err = Board::parse(&text, "x.ron").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "x.ron:{line}:{col}: cores[1].memory[0].wait_states: core m4: window code TCM: 101 wait states"
            )),
            "{err}"
        );
        let ok = RT1176_RON.replace(window, &format!("{window}, wait_states: 2"));
        let board = Board::parse(&ok, "x.ron").unwrap();
        assert_eq!(board.cores[1].memory[0].wait_states, 2);
    }

    #[test]
    fn overlapping_windows_are_rejected() {
        let text = RT1176_RON.replace(
            "Window(name: \"DTCM\",          base: 0x20000000",
            "Window(name: \"DTCM\",          base: 0x00010000",
        );
        let err = Board::parse(&text, "x.ron").unwrap_err().to_string();
        assert!(err.contains("overlaps"), "{err}");
    }
}
