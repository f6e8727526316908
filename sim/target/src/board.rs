//! The far side of the RTT link ([`Board`]): the twin running the HIL firmware ([`Emulated`])
//! or a board through a debug probe (`crate::probe`). The host side of target mode is the same
//! for both.

use std::path::Path;

use crate::error::target_error;
use crate::rtt::Memory;
use twin_flight::Result;
use twin_machine::board::Board as BoardDesc;
use twin_machine::image::Image;
use twin_machine::machine::{Config, Machine, Stop};
use twin_machine::time::{Ps, PS_PER_S, PS_PER_US};

/// Where the CM7 image keeps its RTT control block (DTCM, rt1176.md 1.1), searched when the
/// image's `_SEGGER_RTT` symbol is not known.
pub const RTT_RANGES: [(u32, u32); 1] = [(0x2000_0000, 0x4_0000)];

/// The far side of the RTT link.
pub trait Board {
    fn memory(&mut self) -> &mut dyn Memory;
    /// Let the target run on a little: the twin one slice of virtual time, a board a moment
    /// of wall-clock time. An error ends the run (the firmware exited, locked up, the probe
    /// was lost).
    fn advance(&mut self) -> Result<()>;
    /// Let the twin run until virtual time `at` (full-system mode, where the host feeds the
    /// devices at each tick's start); a board has no virtual time.
    fn run_to(&mut self, _at: Ps) -> Result<()> {
        Err(target_error(format!(
            "{}: only the twin runs to a virtual time",
            self.describe()
        )))
    }
    /// Seconds on the target's clock: virtual time on the twin, wall-clock time on a board.
    fn now_s(&self) -> f64;
    /// The emulated machine, on the twin.
    fn machine(&mut self) -> Option<&mut Machine> {
        None
    }
    /// Where to search for the RTT control block when the image does not say.
    fn rtt_ranges(&self) -> Vec<(u32, u32)> {
        RTT_RANGES.to_vec()
    }
    /// What the cores are doing, for a stall message (the twin can say; a board cannot).
    fn diagnose(&mut self) -> String {
        String::new()
    }
    fn describe(&self) -> String;
}

/// The twin running the HIL firmware: the CM7 image loaded, powered on; the image releases
/// the CM4 itself.
pub struct Emulated {
    machine: Machine,
    m7: usize,
    image: String,
    /// What the image is, in reports: the HIL or the full-system firmware.
    what: &'static str,
}

/// Virtual time the twin runs between two looks at the RTT buffers.
const SLICE: Ps = 100 * PS_PER_US;

impl Emulated {
    pub fn new(image: &Path) -> Result<Emulated> {
        Emulated::load(image, "HIL firmware")
    }

    /// The full-system build (feature `devices`): the same CM7/CM4 pair, its sensors read
    /// from the board's devices.
    pub fn full_system(image: &Path) -> Result<Emulated> {
        Emulated::load(image, "full-system firmware")
    }

    fn load(image: &Path, what: &'static str) -> Result<Emulated> {
        let img = Image::load(image)?;
        let mut machine = Machine::new(BoardDesc::rt1176(), &Config::default())?;
        machine.load("m7", &img)?;
        // The CM4's image travels inside the CM7's; its symbols, when build.sh left them
        // beside it, name the CM4's code in reports.
        let m4 = image.with_file_name("hil-m4.elf");
        if m4.exists() {
            machine.add_symbols("m4", &Image::load(&m4)?.symbols)?;
        }
        machine.power_on()?;
        let m7 = machine.core_index("m7")?;
        Ok(Emulated {
            machine,
            m7,
            image: image.display().to_string(),
            what,
        })
    }
}

impl Memory for Emulated {
    fn read(&mut self, addr: u32, buf: &mut [u8]) -> std::result::Result<(), String> {
        crate::rtt::CoreMemory {
            machine: &mut self.machine,
            core: self.m7,
        }
        .read(addr, buf)
    }
    fn write(&mut self, addr: u32, data: &[u8]) -> std::result::Result<(), String> {
        crate::rtt::CoreMemory {
            machine: &mut self.machine,
            core: self.m7,
        }
        .write(addr, data)
    }
}

impl Emulated {
    /// Run `d` of virtual time; an error names how the firmware stopped.
    fn run(&mut self, d: Ps) -> Result<()> {
        let fail = |what: String| Err(target_error(format!("{}: {what}", self.image)));
        match self.machine.run_for(d) {
            Stop::Timeout => Ok(()),
            Stop::Exit { core, code } => fail(format!("the {core} exited with code {code}")),
            Stop::Lockup { core, detail } => fail(format!("the {core} locked up: {detail}")),
            Stop::TwinError { core, detail } => fail(format!("twin error on the {core}: {detail}")),
            Stop::SystemReset { core } => fail(format!("the {core} requested a system reset")),
            // No debugger is attached and nothing polls.
            s @ (Stop::Debug { .. } | Stop::Interrupted) => fail(format!("stopped: {s:?}")),
        }
    }
}

impl Board for Emulated {
    fn memory(&mut self) -> &mut dyn Memory {
        self
    }

    fn advance(&mut self) -> Result<()> {
        self.run(SLICE)
    }

    fn run_to(&mut self, at: Ps) -> Result<()> {
        let now = self.machine.now();
        if at > now {
            self.run(at - now)?;
        }
        Ok(())
    }

    fn now_s(&self) -> f64 {
        self.machine.now() as f64 / PS_PER_S as f64
    }

    fn machine(&mut self) -> Option<&mut Machine> {
        Some(&mut self.machine)
    }

    fn diagnose(&mut self) -> String {
        let mut parts = Vec::new();
        for i in 0..self.machine.board.cores.len() {
            let name = self.machine.board.cores[i].name.clone();
            let state = self.machine.state(i);
            let uc = self.machine.engine(i);
            let pc = twin_machine::core::pc(uc);
            let ipsr = twin_machine::core::read_mode(uc).ipsr();
            let at = uc.get_data().symbols.describe(pc);
            let exc = if ipsr == 0 {
                String::new()
            } else {
                format!(" in {}", twin_machine::exc::exception_name(ipsr))
            };
            parts.push(format!("{name} {state:?} at {pc:#010x} ({at}){exc}"));
        }
        format!(" ({})", parts.join("; "))
    }

    fn describe(&self) -> String {
        format!("{} {} on the twin", self.what, self.image)
    }
}
