//! A real board behind a debug probe, through probe-rs: the [`Board`] of target mode on
//! hardware. Only the CM7 is attached (probe-rs's built-in `MIMXRT1170` target describes the
//! CM7 alone); the HIL image carries the CM4's image and releases the CM4 itself (rt1176.md
//! 1.3), and the CM4 reports through the CM7, so the CM7's RAM is all the host reads.
//!
//! Nothing is written to the board unless `--flash` is given. With it, the CM7 image is put
//! into the board's RAM (ITCM and DTCM, where it is linked) and started: the core is reset and
//! halted, each loadable segment written, VTOR, SP and PC set from the image's vector table,
//! and the core run. The image is RAM-resident: a power cycle forgets it.

use std::time::{Duration, Instant};

use probe_rs::probe::list::Lister;
use probe_rs::probe::DebugProbeSelector;
use probe_rs::{MemoryInterface, Permissions, Session};

use crate::board::Board;
use crate::error::target_error;
use crate::rtt::Memory;
use twin_flight::Result;
use twin_machine::image::Image;
use twin_machine::Error as TwinError;

/// probe-rs's name for the chip (its built-in target `MIMXRT1170`, CM7 core).
pub const CHIP: &str = "MIMXRT1170";

pub struct ProbeBoard {
    session: Session,
    started: Instant,
    name: String,
}

impl ProbeBoard {
    /// Open the probe (`selector` VID:PID[:SERIAL], else the only one attached), attach to the
    /// RT1176's CM7, and when `flash` is given load and start that image.
    pub fn open(selector: Option<&str>, flash: Option<&Image>) -> Result<ProbeBoard> {
        let lister = Lister::new();
        let probes = lister.list_all();
        let info = match selector {
            Some(sel) => {
                let want: DebugProbeSelector = sel.parse().map_err(|e| {
                    TwinError::Usage(format!(
                        "--probe {sel:?}: {e} (expected VID:PID or VID:PID:SERIAL, in hex)"
                    ))
                })?;
                lister.list(Some(&want)).into_iter().next().ok_or_else(|| {
                    target_error(format!(
                        "no debug probe matches {sel} ({} attached{})",
                        probes.len(),
                        listing(&probes)
                    ))
                })?
            }
            None => match probes.as_slice() {
                [] => {
                    return Err(target_error(
                        "no debug probe found: connect one (CMSIS-DAP, J-Link, ST-Link...) to the board's debug port, or run the scenario on the twin with --target emulated",
                    ))
                }
                [one] => one.clone(),
                many => {
                    return Err(target_error(format!(
                        "{} debug probes attached: choose one with --probe VID:PID[:SERIAL]{}",
                        many.len(),
                        listing(many)
                    )))
                }
            },
        };
        let name = format!(
            "{} ({:04x}:{:04x})",
            info.identifier, info.vendor_id, info.product_id
        );
        let probe = lister
            .open(&info)
            .map_err(|e| target_error(format!("cannot open probe {name}: {e}")))?;
        let mut session = probe.attach(CHIP, Permissions::default()).map_err(|e| {
            target_error(format!(
                "probe {name}: no RT1176 answered (is the board powered and the debug cable on?): {e}"
            ))
        })?;
        if let Some(image) = flash {
            load_and_start(&mut session, image)
                .map_err(|e| target_error(format!("probe {name}: loading {}: {e}", image.path)))?;
        }
        Ok(ProbeBoard {
            session,
            started: Instant::now(),
            name,
        })
    }
}

fn listing(probes: &[probe_rs::probe::DebugProbeInfo]) -> String {
    probes
        .iter()
        .map(|p| {
            format!(
                "\n  {:04x}:{:04x}{} {}",
                p.vendor_id,
                p.product_id,
                p.serial_number
                    .as_deref()
                    .map(|s| format!(":{s}"))
                    .unwrap_or_default(),
                p.identifier
            )
        })
        .collect()
}

/// Reset and halt the CM7, write the image's segments to RAM, point VTOR, SP and PC at its
/// vector table (ARMv7-M B1.5.3: SP = word 0, PC = word 1), run.
fn load_and_start(
    session: &mut Session,
    image: &Image,
) -> std::result::Result<(), probe_rs::Error> {
    let mut core = session.core(0)?;
    core.reset_and_halt(Duration::from_millis(500))?;
    for seg in &image.segments {
        let mut bytes = seg.data.clone();
        bytes.resize(seg.mem_size as usize, 0);
        core.write_8(u64::from(seg.addr), &bytes)?;
    }
    let vt = u64::from(image.vector_table);
    let sp = core.read_word_32(vt)?;
    let pc = core.read_word_32(vt + 4)?;
    core.write_word_32(0xE000_ED08, image.vector_table)?; // SCB VTOR
    let sp_reg = core.stack_pointer();
    core.write_core_reg(sp_reg, sp)?;
    let pc_reg = core.program_counter();
    core.write_core_reg(pc_reg, pc & !1)?;
    core.run()
}

impl Memory for ProbeBoard {
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> std::result::Result<(), String> {
        let mut core = self.session.core(0).map_err(|e| e.to_string())?;
        core.read_8(u64::from(addr), buf)
            .map_err(|e| format!("read of {} bytes at {addr:#010x}: {e}", buf.len()))
    }

    fn write(&mut self, addr: u32, data: &[u8]) -> std::result::Result<(), String> {
        let mut core = self.session.core(0).map_err(|e| e.to_string())?;
        core.write_8(u64::from(addr), data)
            .map_err(|e| format!("write of {} bytes at {addr:#010x}: {e}", data.len()))
    }
}

impl Board for ProbeBoard {
    fn memory(&mut self) -> &mut dyn Memory {
        self
    }

    /// The board runs on its own; the host only waits a little between polls.
    fn advance(&mut self) -> Result<()> {
        std::thread::sleep(Duration::from_micros(200));
        Ok(())
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn describe(&self) -> String {
        format!("the board behind probe {}", self.name)
    }
}
