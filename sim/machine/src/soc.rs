//! The SoC state that both cores see: the peripheral table built from the board file, the
//! per-core System Control Space, the timer event queue and the cross-core effects waiting for
//! the next sync point. Both engines' MMIO callbacks reach it through one `Rc<RefCell<Soc>>`
//! (the engines live on one thread).

use std::cell::Cell;
use std::rc::Rc;

use crate::board::{Board, Model, MuSide};
use crate::events::{EventQueue, Source};
use crate::exc::{self, FIRST_IRQ};
use crate::periph::ccm::Ccm;
use crate::periph::flexpwm::FlexPwm;
use crate::periph::gpio::Gpio;
use crate::periph::gpt::Gpt;
use crate::periph::lpi2c::Lpi2c;
use crate::periph::lpspi::Lpspi;
use crate::periph::lpuart::Lpuart;
use crate::periph::mu::{self, Mu};
use crate::periph::padmux::PadMux;
use crate::periph::pit::Pit;
use crate::periph::scs::{Clocks, Scs};
use crate::periph::src::{LpsrGpr, Src, SrcAction};
use crate::periph::RegError;
use crate::time::{Ps, PS_PER_S};

#[derive(Debug)]
pub enum Dev {
    Mu(usize),
    Src,
    LpsrGpr,
    Ccm(Box<Ccm>),
    Gpt(Box<Gpt>),
    Pit(Box<Pit>),
    Lpuart(Box<Lpuart>),
    Lpspi(Box<Lpspi>),
    Lpi2c(Box<Lpi2c>),
    FlexPwm(Box<FlexPwm>),
    PadMux(Box<PadMux>),
    Gpio(Box<Gpio>),
    Ignore,
    Unmodelled,
}

#[derive(Debug)]
pub struct PeriphInst {
    pub name: String,
    pub base: u32,
    pub size: u32,
    /// IRQ line per core index.
    pub irqs: Vec<Option<u32>>,
    /// A second line per core (GPIO1-5: pins 16-31 apart from pins 0-15).
    pub irqs_high: Vec<Option<u32>>,
    pub dev: Dev,
    gen: u64,
    scheduled: Option<Ps>,
}

/// Why a bus access could not be served: not a guest fault but a twin error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError {
    pub addr: u32,
    pub peripheral: String,
    pub what: String,
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "access to {:#010x} in {}: {}",
            self.addr, self.peripheral, self.what
        )
    }
}

/// What the machine must do at the next sync point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    BootCore { core: usize, vtor: u32 },
    SystemReset { core: usize },
}

/// Per-core state shared with the bus.
#[derive(Debug)]
pub struct CoreShared {
    pub name: String,
    pub scs: Scs,
    pub hz: u64,
    pub systick_ref_hz: u64,
    /// Set when this core's exception state changed: its block hook stops to re-evaluate.
    pub irq_flag: Rc<Cell<bool>>,
    /// The current segment's end: the running core stops at the first block past it.
    pub deadline: Rc<Cell<Ps>>,
    systick_gen: u64,
    systick_scheduled: Option<Ps>,
}

#[derive(Debug)]
pub struct Soc {
    pub cores: Vec<CoreShared>,
    pub periphs: Vec<PeriphInst>,
    pub spaces: Vec<(u32, u32, String)>,
    pub mu: Mu,
    pub src: Src,
    pub gpr: LpsrGpr,
    pub events: EventQueue,
    pub mu_effects: Vec<mu::Effect>,
    pub actions: Vec<Action>,
    /// Index of the CM4 core (the one SRC releases), if the board has two cores.
    pub m4: Option<usize>,
    /// SPI chip selects: (LPSPI index, device index on it, GPIO index, pin).
    spi_cs: Vec<(usize, usize, usize, u32)>,
    /// SPI devices' data-ready outputs: (LPSPI index, device index, GPIO index, pin).
    spi_drdy: Vec<(usize, usize, usize, u32)>,
    /// The IO MCU and the index of the LPUART it listens to.
    pub io: Option<(usize, crate::devices::px4io::Px4Io)>,
    /// Where the hardware capabilities (`crate::capability`) last left the models' time: calls
    /// hosted outside the machine's run loop carry on from it.
    pub capability_time: Ps,
}

fn lane(addr: u32, size: usize) -> (u32, u32, u32) {
    let shift = (addr & 3) * 8;
    let bits = (size as u32) * 8;
    let mask = if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    (addr & !3, shift, mask << shift)
}

impl Soc {
    pub fn new(board: &Board, m4_released: bool) -> Soc {
        let cores = board
            .cores
            .iter()
            .map(|c| CoreShared {
                name: c.name.clone(),
                scs: Scs::new(c.model),
                hz: c.clock_hz,
                // A board without a `<core>_systick` root has no SysTick reference clock:
                // CLKSOURCE = 0 then stops the counter (0 Hz), as an unclocked timer would.
                systick_ref_hz: board
                    .clock_roots
                    .get(&format!("{}_systick", c.name))
                    .copied()
                    .unwrap_or(0),
                irq_flag: Rc::new(Cell::new(false)),
                deadline: Rc::new(Cell::new(0)),
                systick_gen: 0,
                systick_scheduled: None,
            })
            .collect::<Vec<_>>();
        let clock = |name: &str| board.clock_roots.get(name).copied().unwrap_or(0);
        let mut periphs: Vec<PeriphInst> = board
            .peripherals
            .iter()
            .map(|p| PeriphInst {
                name: p.name.clone(),
                base: p.base,
                size: p.size,
                irqs: board
                    .cores
                    .iter()
                    .map(|c| p.irqs.get(&c.name).copied())
                    .collect(),
                irqs_high: board
                    .cores
                    .iter()
                    .map(|c| p.irqs_high.get(&c.name).copied())
                    .collect(),
                dev: match &p.model {
                    Model::Mu { side } => Dev::Mu(match side {
                        MuSide::A => 0,
                        MuSide::B => 1,
                    }),
                    Model::Src => Dev::Src,
                    Model::LpsrGpr => Dev::LpsrGpr,
                    Model::Ccm => Dev::Ccm(Box::default()),
                    Model::Gpt { clock: c } => {
                        Dev::Gpt(Box::new(Gpt::new(clock(c), clock("osc24m"))))
                    }
                    Model::Pit { clock: c } => Dev::Pit(Box::new(Pit::new(clock(c)))),
                    Model::Lpuart { clock: c } => Dev::Lpuart(Box::new(Lpuart::new(clock(c)))),
                    Model::Lpspi { clock: c } => Dev::Lpspi(Box::new(Lpspi::new(clock(c)))),
                    Model::Lpi2c { clock: c } => Dev::Lpi2c(Box::new(Lpi2c::new(clock(c)))),
                    Model::FlexPwm { clock: c } => Dev::FlexPwm(Box::new(FlexPwm::new(clock(c)))),
                    Model::PadMux => Dev::PadMux(Box::default()),
                    Model::Gpio => Dev::Gpio(Box::default()),
                    Model::Ignore => Dev::Ignore,
                    Model::Unmodelled => Dev::Unmodelled,
                },
                gen: 0,
                scheduled: None,
            })
            .collect();
        periphs.sort_by_key(|p| p.base);
        // The SPI devices, on their buses; each chip select pulled up (deselected) at reset.
        let index = |ps: &[PeriphInst], name: &str| ps.iter().position(|p| p.name == name);
        let mut spi_cs = Vec::new();
        let mut spi_drdy = Vec::new();
        for d in &board.spi_devices {
            let (Some(bus), Some(gpio)) = (index(&periphs, &d.bus), index(&periphs, &d.cs.0))
            else {
                continue; // the board was validated
            };
            let device: Box<dyn crate::periph::lpspi::SpiDevice> = match d.part {
                crate::board::Part::Icm42686p => {
                    Box::new(crate::devices::icm42688::Icm42688::with_id(0x44))
                }
                _ => Box::new(crate::devices::icm42688::Icm42688::new()),
            };
            let drdy = d
                .drdy
                .as_ref()
                .and_then(|(g, pin)| Some((index(&periphs, g)?, *pin)));
            if let Dev::Lpspi(l) = &mut periphs[bus].dev {
                l.devices.push((device, false));
                let n = l.devices.len() - 1;
                spi_cs.push((bus, n, gpio, d.cs.1));
                if let Some((g, pin)) = drdy {
                    spi_drdy.push((bus, n, g, pin));
                }
            }
            if let Dev::Gpio(g) = &mut periphs[gpio].dev {
                g.drive(d.cs.1, true);
            }
        }
        for d in &board.i2c_devices {
            if let Some(Dev::Lpi2c(l)) = index(&periphs, &d.bus).map(|i| &mut periphs[i].dev) {
                l.devices.push(match d.part {
                    crate::board::Part::Bmm150 => {
                        Box::new(crate::devices::bmm150::Bmm150::new(d.address))
                    }
                    _ => Box::new(crate::devices::bmp388::Bmp388::new(d.address)),
                });
            }
        }
        let io = board
            .io_uart
            .as_ref()
            .and_then(|u| index(&periphs, u))
            .map(|i| (i, crate::devices::px4io::Px4Io::new()));
        Soc {
            m4: board.core_index("m4"),
            cores,
            periphs,
            spaces: board
                .spaces
                .iter()
                .map(|s| (s.base, s.size, s.name.clone()))
                .collect(),
            mu: Mu::default(),
            src: Src::new(m4_released),
            gpr: LpsrGpr::default(),
            events: EventQueue::default(),
            mu_effects: Vec::new(),
            actions: Vec::new(),
            spi_cs,
            spi_drdy,
            io,
            capability_time: 0,
        }
    }

    fn clocks(&self, core: usize, now: Ps) -> Clocks {
        Clocks {
            now,
            core_hz: self.cores[core].hz,
            systick_ref_hz: self.cores[core].systick_ref_hz,
        }
    }

    fn find(&self, addr: u32) -> Option<usize> {
        let i = self.periphs.partition_point(|p| p.base <= addr);
        (i > 0 && addr - self.periphs[i - 1].base < self.periphs[i - 1].size).then(|| i - 1)
    }

    /// The peripheral serving `addr` and the register offset of `word` in it.
    fn locate(&self, addr: u32, word: u32) -> Result<(usize, u32), BusError> {
        match self.find(addr) {
            Some(i) => Ok((i, word - self.periphs[i].base)),
            None => Err(BusError {
                addr,
                peripheral: self.space_name(addr),
                what: "no peripheral model at this address (not in the board file)".into(),
            }),
        }
    }

    fn space_name(&self, addr: u32) -> String {
        self.spaces
            .iter()
            .find(|(b, s, _)| addr >= *b && addr - b < *s)
            .map(|(_, _, n)| n.clone())
            .unwrap_or_else(|| "peripheral space".into())
    }

    fn err(&self, addr: u32, peripheral: &str, e: RegError) -> BusError {
        BusError {
            addr,
            peripheral: peripheral.to_string(),
            what: format!("offset {:#x}: {}", e.offset, e.what),
        }
    }

    /// Base address of the peripheral named `name` in the board file.
    pub fn periph_base(&self, name: &str) -> Option<u32> {
        self.periphs.iter().find(|p| p.name == name).map(|p| p.base)
    }

    /// A read in the peripheral spaces by `core` at virtual time `now`.
    pub fn periph_read(
        &mut self,
        _core: usize,
        addr: u32,
        size: usize,
        now: Ps,
    ) -> Result<u32, BusError> {
        let (word, shift, _) = lane(addr, size);
        let (i, off) = self.locate(addr, word)?;
        let r = match &mut self.periphs[i].dev {
            Dev::Mu(side) => {
                let side = *side;
                self.mu.read(side, off, &mut self.mu_effects)
            }
            Dev::Src => self.src.read(off),
            Dev::LpsrGpr => self.gpr.read(off),
            Dev::Ccm(c) => c.read(off),
            Dev::Gpt(g) => g.read(off, now),
            Dev::Pit(p) => p.read(off, now),
            Dev::Lpuart(u) => u.read(off, now),
            Dev::Lpspi(l) => l.read(off, now),
            Dev::Lpi2c(l) => l.read(off, now),
            Dev::FlexPwm(p) => p.read(off, now),
            Dev::PadMux(p) => p.read(off),
            Dev::Gpio(g) => g.read(off),
            Dev::Ignore => Ok(0),
            Dev::Unmodelled => Err(RegError {
                offset: off,
                what: "peripheral exists on silicon but is not modelled",
            }),
        };
        let v = r.map_err(|e| self.err(addr, &self.periphs[i].name.clone(), e))?;
        self.refresh(i);
        Ok(v >> shift)
    }

    pub fn periph_write(
        &mut self,
        _core: usize,
        addr: u32,
        size: usize,
        value: u32,
        now: Ps,
    ) -> Result<(), BusError> {
        let (word, shift, mask) = lane(addr, size);
        let value = value << shift;
        let (i, off) = self.locate(addr, word)?;
        let r = match &mut self.periphs[i].dev {
            Dev::Mu(side) => {
                let side = *side;
                self.mu.write(side, off, value, mask, &mut self.mu_effects)
            }
            Dev::Src => match self.src.write(off, value, mask) {
                Ok(Some(SrcAction::BootM4)) => {
                    if let Some(m4) = self.m4 {
                        let vtor = self.gpr.m4_vtor();
                        self.actions.push(Action::BootCore { core: m4, vtor });
                    }
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            Dev::LpsrGpr => self.gpr.write(off, value, mask),
            Dev::Ccm(c) => c.write(off, value, mask),
            Dev::Gpt(g) => g.write(off, value, mask, now),
            Dev::Pit(p) => p.write(off, value, mask, now),
            Dev::Lpuart(u) => u.write(off, value, mask, now),
            Dev::Lpspi(l) => l.write(off, value, mask, now),
            Dev::Lpi2c(l) => l.write(off, value, mask, now),
            Dev::FlexPwm(p) => p.write(off, value, mask, now),
            Dev::PadMux(p) => p.write(off, value, mask),
            Dev::Gpio(_) => {
                // Frames that end before a chip select moves go to the device it selected.
                self.sync_spi(now);
                let Dev::Gpio(g) = &mut self.periphs[i].dev else {
                    unreachable!("matched above")
                };
                let r = g.write(off, value, mask);
                self.chip_selects(i);
                r
            }
            Dev::Ignore => Ok(()),
            Dev::Unmodelled => Err(RegError {
                offset: off,
                what: "peripheral exists on silicon but is not modelled",
            }),
        };
        r.map_err(|e| self.err(addr, &self.periphs[i].name.clone(), e))?;
        self.refresh(i);
        Ok(())
    }

    /// A read of `core`'s Private Peripheral Bus.
    pub fn ppb_read(
        &mut self,
        core: usize,
        addr: u32,
        size: usize,
        now: Ps,
        ipsr: u32,
    ) -> Result<u32, BusError> {
        let (word, shift, _) = lane(addr, size);
        let clocks = self.clocks(core, now);
        let c = &mut self.cores[core];
        let v = c.scs.read(word, &clocks, ipsr).map_err(|e| BusError {
            addr,
            peripheral: format!("{} private peripheral bus", c.name),
            what: e.what.into(),
        })?;
        self.refresh_systick(core);
        Ok(v >> shift)
    }

    pub fn ppb_write(
        &mut self,
        core: usize,
        addr: u32,
        size: usize,
        value: u32,
        now: Ps,
    ) -> Result<(), BusError> {
        let (word, shift, mask) = lane(addr, size);
        let clocks = self.clocks(core, now);
        let c = &mut self.cores[core];
        let fx = c
            .scs
            .write(word, value << shift, mask, &clocks)
            .map_err(|e| BusError {
                addr,
                peripheral: format!("{} private peripheral bus", c.name),
                what: e.what.into(),
            })?;
        if fx.recheck {
            c.irq_flag.set(true);
        }
        if fx.reset_request {
            self.actions.push(Action::SystemReset { core });
        }
        self.refresh_systick(core);
        Ok(())
    }

    /// The level of the peripheral's line, and of its second line when it has one (GPIO:
    /// pins 0-15, pins 16-31).
    fn irq_levels(&self, i: usize) -> (bool, Option<bool>) {
        let one = |l| (l, None);
        match &self.periphs[i].dev {
            Dev::Mu(side) => one(self.mu.irq_level(*side)),
            Dev::Gpt(g) => one(g.irq_level()),
            Dev::Pit(p) => one(p.irq_level()),
            Dev::Lpuart(u) => one(u.irq_level()),
            Dev::Lpspi(l) => one(l.irq_level()),
            Dev::Lpi2c(l) => one(l.irq_level()),
            Dev::Gpio(g) => {
                let (lo, hi) = g.irq_levels();
                (lo, Some(hi))
            }
            _ => one(false),
        }
    }

    fn next_event(&self, i: usize) -> Option<Ps> {
        match &self.periphs[i].dev {
            Dev::Gpt(g) => g.next_event(),
            Dev::Pit(p) => p.next_event(),
            Dev::Lpuart(u) => u.next_event(),
            Dev::Lpspi(l) => l.next_event(),
            Dev::Lpi2c(l) => l.next_event(),
            Dev::FlexPwm(p) => p.next_event(),
            _ => None,
        }
    }

    /// The data-ready outputs of bus `bus`'s devices onto their GPIO pins.
    fn data_ready(&mut self, bus: usize) {
        let wires: Vec<(usize, usize, u32)> = self
            .spi_drdy
            .iter()
            .filter(|w| w.0 == bus)
            .map(|w| (w.1, w.2, w.3))
            .collect();
        for (dev, gpio, pin) in wires {
            let level = match &self.periphs[bus].dev {
                Dev::Lpspi(l) => l.devices[dev].0.irq_out(),
                _ => continue,
            };
            let changed = match &mut self.periphs[gpio].dev {
                Dev::Gpio(g) => {
                    let was = g.pad_state() >> pin & 1 != 0;
                    if was != level {
                        g.drive(pin, level);
                    }
                    was != level
                }
                _ => false,
            };
            if changed {
                self.refresh(gpio);
            }
        }
    }

    /// After any change to peripheral `i`: drive its IRQ lines and reschedule its event.
    fn refresh(&mut self, i: usize) {
        if matches!(self.periphs[i].dev, Dev::Lpspi(_)) && !self.spi_drdy.is_empty() {
            self.data_ready(i);
        }
        let (level, second) = self.irq_levels(i);
        // FlexPWM: one line per submodule, from the board's line up.
        let per_sub = match &self.periphs[i].dev {
            Dev::FlexPwm(p) => Some(p.irq_levels()),
            _ => None,
        };
        let lines: Vec<(usize, Option<u32>, Option<u32>)> = (0..self.cores.len())
            .map(|c| (c, self.periphs[i].irqs[c], self.periphs[i].irqs_high[c]))
            .collect();
        for (core, line, high) in lines {
            // One line for both halves when the core has no second line: their OR.
            let drives = match (line, high, second, per_sub) {
                (Some(l), _, _, Some(subs)) => (0..4).map(|n| (l + n as u32, subs[n])).collect(),
                (Some(l), Some(h), Some(s), None) => vec![(l, level), (h, s)],
                (Some(l), None, s, None) => vec![(l, level || s.unwrap_or(false))],
                (None, Some(h), s, None) => vec![(h, s.unwrap_or(false))],
                _ => vec![],
            };
            for (line, level) in drives {
                let c = &mut self.cores[core];
                let n = FIRST_IRQ + line;
                let was = c.scs.exc.pending[n as usize];
                c.scs.exc.set_level(n, level);
                if c.scs.exc.pending[n as usize] && !was {
                    c.irq_flag.set(true);
                }
            }
        }
        let next = self.next_event(i);
        let p = &mut self.periphs[i];
        if next != p.scheduled {
            p.gen += 1;
            p.scheduled = next;
            if let Some(t) = next {
                self.events.schedule(t, Source::Periph(i), p.gen);
                self.shrink_deadlines(t);
            }
        }
    }

    fn refresh_systick(&mut self, core: usize) {
        let c = &mut self.cores[core];
        if c.scs.systick.pend {
            c.scs.systick.pend = false;
            c.scs.exc.set_pending(exc::SYSTICK);
            c.irq_flag.set(true);
        }
        let next = c.scs.systick.next_event(c.hz, c.systick_ref_hz);
        if next != c.systick_scheduled {
            c.systick_gen += 1;
            c.systick_scheduled = next;
            if let Some(t) = next {
                self.events
                    .schedule(t, Source::SysTick(core), c.systick_gen);
                self.shrink_deadlines(t);
            }
        }
    }

    /// An event was scheduled inside the running segment: end the segment there.
    fn shrink_deadlines(&self, t: Ps) {
        for c in &self.cores {
            if t < c.deadline.get() {
                c.deadline.set(t);
            }
        }
    }

    /// Fire every event due at or before `now`.
    pub fn fire_events(&mut self, now: Ps) {
        while let Some((t, source, gen)) = self.events.pop_due(now) {
            match source {
                Source::Periph(i) => {
                    if self.periphs[i].gen != gen {
                        continue;
                    }
                    self.periphs[i].scheduled = None;
                    match &mut self.periphs[i].dev {
                        Dev::Gpt(g) => g.sync(t),
                        Dev::Pit(p) => p.sync(t),
                        Dev::Lpuart(u) => u.sync(t),
                        Dev::Lpspi(l) => l.sync(t),
                        Dev::Lpi2c(l) => l.sync(t),
                        Dev::FlexPwm(p) => p.sync(t),
                        _ => {}
                    }
                    self.refresh(i);
                }
                Source::SysTick(core) => {
                    let c = &mut self.cores[core];
                    if c.systick_gen != gen {
                        continue;
                    }
                    c.systick_scheduled = None;
                    let (hz, rhz) = (c.hz, c.systick_ref_hz);
                    c.scs.systick.sync(t, hz, rhz);
                    self.refresh_systick(core);
                }
            }
        }
    }

    /// Every UART's words sent since the last call: (UART name, the time the stop bit ended,
    /// the word), in time order per UART.
    pub fn uart_output(&mut self, now: Ps) -> Vec<(String, Ps, u16)> {
        let mut out = Vec::new();
        for p in &mut self.periphs {
            if let Dev::Lpuart(u) = &mut p.dev {
                out.extend(
                    u.take_output()
                        .into_iter()
                        .map(|(t, w)| (p.name.clone(), t, w)),
                );
            }
        }
        self.serve_io(&out, now);
        out
    }

    /// Hand the IO MCU what the FMU sent it and put its answers on the UART's RX line (no
    /// earlier than `now`: the bytes were collected at this sync point).
    fn serve_io(&mut self, words: &[(String, Ps, u16)], now: Ps) {
        let Some(i) = self.io.as_ref().map(|(i, _)| *i) else {
            return;
        };
        if !words.iter().any(|(n, ..)| *n == self.periphs[i].name) {
            return;
        }
        let Some((i, mut io)) = self.io.take() else {
            return;
        };
        let p = &mut self.periphs[i];
        if let Dev::Lpuart(u) = &mut p.dev {
            let name = &p.name;
            let link = crate::devices::px4io::BAUD as f64;
            let understood = u.baud().is_some_and(|b| (b - link).abs() <= 0.03 * link);
            let frame = u.frame_time().unwrap_or(0);
            let mut answers = Vec::new();
            for (_, at, w) in words.iter().filter(|(n, ..)| n == name) {
                if understood {
                    answers.extend(io.byte(*at, frame, *w as u8));
                }
            }
            for (at, bytes) in answers {
                u.receive(at.max(now), &bytes);
            }
            self.refresh(i);
        }
        self.io = Some((i, io));
    }

    /// Line time each bus has been busy so far: LPSPI and LPI2C transfers, LPUART frames sent
    /// (`NAME TX`) and received (`NAME RX`); buses never used are left out.
    pub fn bus_load(&self) -> Vec<(String, Ps)> {
        let mut out = Vec::new();
        for p in &self.periphs {
            match &p.dev {
                Dev::Lpspi(l) => out.push((p.name.clone(), l.busy_ps)),
                Dev::Lpi2c(l) => out.push((p.name.clone(), l.busy_ps)),
                Dev::Lpuart(u) => {
                    out.push((format!("{} TX", p.name), u.tx_busy_ps));
                    out.push((format!("{} RX", p.name), u.rx_busy_ps));
                }
                _ => {}
            }
        }
        out.retain(|(_, busy)| *busy > 0);
        out
    }

    /// The IO MCU's outputs at `now`, when the board has one.
    pub fn io_outputs(&mut self, now: Ps) -> Option<crate::devices::px4io::IoOutputs> {
        self.io.as_mut().map(|(_, io)| io.outputs(now))
    }

    /// Bytes arriving on UART `name`'s RX line from `at`, back to back at its baud; false when
    /// the board has no such UART.
    pub fn uart_input(&mut self, name: &str, at: Ps, bytes: &[u8]) -> bool {
        let Some(i) = self.periphs.iter().position(|p| p.name == name) else {
            return false;
        };
        let Dev::Lpuart(u) = &mut self.periphs[i].dev else {
            return false;
        };
        u.receive(at, bytes);
        self.refresh(i);
        true
    }

    /// Bring every SPI bus with a device up to `now`.
    fn sync_spi(&mut self, now: Ps) {
        let buses: Vec<usize> = self.spi_cs.iter().map(|c| c.0).collect();
        for b in buses {
            if let Dev::Lpspi(l) = &mut self.periphs[b].dev {
                l.sync(now);
            }
            self.refresh(b);
        }
    }

    /// After GPIO `gpio` changed: tell each SPI device whose chip select is on it.
    fn chip_selects(&mut self, gpio: usize) {
        let pads = match &self.periphs[gpio].dev {
            Dev::Gpio(g) => g.pad_state(),
            _ => return,
        };
        for (bus, dev, _, pin) in self.spi_cs.clone().into_iter().filter(|c| c.2 == gpio) {
            if let Dev::Lpspi(l) = &mut self.periphs[bus].dev {
                l.chip_select(dev, pads >> pin & 1 == 0);
            }
        }
    }

    /// A new sample for the IMU on bus `bus` (the first device there that is one); false when
    /// there is none.
    pub fn imu_sample(&mut self, bus: &str, sample: &crate::devices::icm42688::ImuSample) -> bool {
        let Some(i) = self.periphs.iter().position(|p| p.name == bus) else {
            return false;
        };
        let Dev::Lpspi(l) = &mut self.periphs[i].dev else {
            return false;
        };
        for (d, _) in &mut l.devices {
            if let Some(imu) = d
                .as_any_mut()
                .downcast_mut::<crate::devices::icm42688::Icm42688>()
            {
                imu.sample(sample);
                self.refresh(i);
                return true;
            }
        }
        false
    }

    /// PWM_A of submodule `sm` of FlexPWM `name`: (period, high time) in seconds while it runs
    /// with its output enabled.
    pub fn pwm_output(&mut self, name: &str, sm: usize, now: Ps) -> Option<(f64, f64)> {
        let i = self.periphs.iter().position(|p| p.name == name)?;
        let Dev::FlexPwm(p) = &mut self.periphs[i].dev else {
            return None;
        };
        p.sync(now);
        p.output_a(sm % 4)
    }

    /// The first device of type `T` on I2C bus `bus`.
    fn i2c_device<T: 'static>(&mut self, bus: &str) -> Option<&mut T> {
        let i = self.periphs.iter().position(|p| p.name == bus)?;
        let Dev::Lpi2c(l) = &mut self.periphs[i].dev else {
            return None;
        };
        l.devices
            .iter_mut()
            .find_map(|d| d.as_any_mut().downcast_mut::<T>())
    }

    /// A new barometer reading (degC, Pa) for the BMP388 on bus `bus`; false when there is none.
    pub fn baro_sample(&mut self, bus: &str, temp: f64, press: f64) -> bool {
        self.i2c_device::<crate::devices::bmp388::Bmp388>(bus)
            .map(|b| b.sample(temp, press))
            .is_some()
    }

    /// A new magnetometer measurement (microtesla, the part's axes) for the BMM150 on bus
    /// `bus`; false when there is none or it is not measuring (suspended, asleep).
    pub fn mag_sample(&mut self, bus: &str, field_ut: [f64; 3]) -> bool {
        self.i2c_device::<crate::devices::bmm150::Bmm150>(bus)
            .is_some_and(|m| m.sample(field_ut))
    }

    /// Drive input `pin` of GPIO `name` from outside (a device's line, the host); false when
    /// the board has no such GPIO.
    pub fn gpio_drive(&mut self, name: &str, pin: u32, high: bool) -> bool {
        let Some(i) = self.periphs.iter().position(|p| p.name == name) else {
            return false;
        };
        let Dev::Gpio(g) = &mut self.periphs[i].dev else {
            return false;
        };
        g.drive(pin % 32, high);
        self.refresh(i);
        self.chip_selects(i);
        true
    }

    /// Apply the cross-core effects queued since the last sync point.
    pub fn apply_cross_core(&mut self) {
        if self.mu_effects.is_empty() {
            return;
        }
        for e in std::mem::take(&mut self.mu_effects) {
            self.mu.apply(e);
        }
        for i in 0..self.periphs.len() {
            if matches!(self.periphs[i].dev, Dev::Mu(_)) {
                self.refresh(i);
            }
        }
    }

    /// Reset one core's private state (SCS, SysTick) for a (re)boot.
    pub fn reset_core(&mut self, core: usize) {
        let c = &mut self.cores[core];
        let lines: Vec<(usize, bool)> = c.scs.exc.level.iter().copied().enumerate().collect();
        c.scs = Scs::new(c.scs.model);
        for (n, high) in lines {
            c.scs.exc.level[n] = high;
        }
        c.systick_gen += 1;
        c.systick_scheduled = None;
    }

    /// Picoseconds per core clock cycle (exact: the board checks divisibility).
    pub fn ps_per_cycle(&self, core: usize) -> Ps {
        PS_PER_S / self.cores[core].hz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes() {
        assert_eq!(lane(0x1002, 2), (0x1000, 16, 0xFFFF_0000));
        assert_eq!(lane(0x1003, 1), (0x1000, 24, 0xFF00_0000));
        assert_eq!(lane(0x1000, 4), (0x1000, 0, u32::MAX));
    }

    #[test]
    fn unmodelled_peripheral_is_named() {
        let board = Board::rt1176();
        let mut soc = Soc::new(&board, false);
        let e = soc.periph_read(0, 0x4007_0010, 4, 0).unwrap_err();
        assert_eq!(e.peripheral, "eDMA0");
        let e = soc.periph_read(0, 0x4000_0000, 4, 0).unwrap_err();
        assert!(e.peripheral.contains("AIPS"), "{e}");
    }

    #[test]
    fn mu_message_reaches_the_other_core_at_the_sync_point() {
        let board = Board::rt1176();
        let mut soc = Soc::new(&board, true);
        let (m7, m4) = (0, 1);
        // CM4 enables RIE0 on MUB and its NVIC line 118.
        soc.periph_write(m4, 0x40C4_C024, 4, 1 << 27, 0).unwrap();
        soc.cores[m4].scs.exc.enabled[(FIRST_IRQ + 118) as usize] = true;
        soc.periph_write(m7, 0x40C4_8000, 4, 0xCAFE, 10).unwrap();
        assert!(!soc.cores[m4].scs.exc.pending[(FIRST_IRQ + 118) as usize]);
        soc.apply_cross_core();
        assert!(soc.cores[m4].scs.exc.pending[(FIRST_IRQ + 118) as usize]);
        assert!(soc.cores[m4].irq_flag.get());
        assert_eq!(soc.periph_read(m4, 0x40C4_C010, 4, 20).unwrap(), 0xCAFE);
    }
}
