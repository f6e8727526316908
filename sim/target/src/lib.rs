//! `twin-target`: target mode (docs/target.md). The flight code runs as the HIL firmware
//! (`targets/hil`) on the twin in bare-metal mode or on a board, and the loop's flight computer
//! is the far end of an RTT link. Sensor frames go down, tick reports (vehicle-state, motor
//! commands, setpoints, cycles, MU latency) come up, framed by `hil_proto`, through `rtt::Link`: the same host code
//! for the twin and for a board, which differ only in the `board::Board` behind the link
//! (`board::Emulated`, `probe::ProbeBoard`).
//!
//! Timing: each tick the host writes the tick's sensor frame, then lets the target run (the
//! twin a slice of virtual time, a board a moment of wall-clock time) until that tick's report
//! arrives. The firmware takes the frame at its next GPT tick, so on the twin the loop runs at
//! the control period exactly; on a board it runs as fast as the probe round trip allows (a
//! late frame waits for the next period). No report within [`STALL_S`] of the target's clock
//! ends the run: the motors are commanded to zero and the trace so far is kept.
//!
//! Depends on: `twin-machine` (the twin as a board), `twin-flight` (the loop's
//! `FlightComputer`, scenarios and sessions), `hil-proto`, probe-rs. Nothing depends on it but
//! the front ends (`sim`, `twin-ui`).

mod board;
mod error;
mod probe;
pub mod rtt;

use std::path::{Path, PathBuf};

use hil_proto::{Down, Event, Up};

use crate::board::{Board, Emulated};
use crate::rtt::{Link, Rtt};
use twin_flight::flightloop::{
    Control, FcTick, FlightComputer, FlightLoop, FullSystemLoad, TickLoad, STATE_WORDS,
};
use twin_flight::scenario::Scenario;
use twin_flight::session::Session;
use twin_flight::{Error, Result};
use twin_hosting::backend::{Backend, SensorFrame};
use twin_machine::board::Board as BoardDesc;
use twin_machine::image::Image;
use twin_machine::machine::Machine;
use twin_machine::time::{Ps, PS_PER_S, PS_PER_US};
use twin_machine::Error as TwinError;

pub use error::{target_error, TargetError};

/// No tick report for this long (on the target's clock): the link has stalled.
pub const STALL_S: f64 = 0.5;
/// The firmware's boot (the CM4 release included) must bring up RTT and say Hello within this.
pub const BOOT_S: f64 = 2.0;
/// Where target mode runs the flight code.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// The HIL firmware image on the twin (bare-metal mode).
    Emulated { image: PathBuf },
    /// A board through a debug probe (`selector` VID:PID[:SERIAL]); the image is loaded into
    /// the board's RAM and started only when `flash` is set, else the running firmware is
    /// attached to.
    Probe {
        image: PathBuf,
        selector: Option<String>,
        flash: bool,
    },
    /// The full-system firmware on the twin (docs/full-system.md): the sensors come from the
    /// modelled devices, which the host feeds with the vehicle's measurements each tick, and
    /// the motors from the IO MCU; the link carries the waypoint and the reports.
    FullSystem { image: PathBuf },
}

/// The HIL image built by `targets/hil/build.sh` for a project root.
pub fn default_image(root: &Path) -> PathBuf {
    root.join("target/hil/hil-m7.elf")
}

/// The full-system image built by `targets/hil/build.sh` for a project root.
pub fn default_full_system_image(root: &Path) -> PathBuf {
    root.join(twin_flight::scenario::DEFAULT_FIRMWARE_IMAGE)
}

/// The HIL firmware's flight computer behind the RTT link.
pub struct Target {
    board: Box<dyn Board>,
    link: Link,
    ps: (Ps, Ps),
    cores: (usize, usize),
    stall_s: f64,
    stopped: bool,
    /// Full-system mode: the devices' side of each tick.
    devices: Option<Devices>,
}

/// Full-system mode's bookkeeping: where loop time sits on the twin's clock, and what each
/// tick cost.
#[derive(Default)]
struct Devices {
    /// The twin's time at loop time 0 (set at the first tick, once `Start` has been taken).
    offset: Option<Ps>,
    ticks: Vec<TickLoad>,
    /// The cores' awake time (ps) at the previous tick's end, and at the first tick's start.
    awake: [Ps; 2],
    /// Each bus's time on the wire at the first tick and now, and the time between.
    buses_at_start: Vec<(String, Ps)>,
    buses: Vec<(String, Ps)>,
    span: Ps,
    /// The motor outputs' pulse widths (us) at the last tick.
    outputs: Vec<(String, f64)>,
}

/// The FMU's auxiliary outputs CH1-4 (rt1176.md 3.9: PWM_A of PWM1 SM0-2 and PWM2 SM0).
const FMU_AUX: [(&str, &str, usize); 4] = [
    ("FMU CH1", "FlexPWM1", 0),
    ("FMU CH2", "FlexPWM1", 1),
    ("FMU CH3", "FlexPWM1", 2),
    ("FMU CH4", "FlexPWM2", 0),
];

/// The measurements a tick's sensor frame stands for, as the board's parts take them: the
/// IMU always; barometer, magnetometer and GNSS when the frame has them (the conventions are
/// `hil_proto::devices`, which the firmware converts back with).
fn measurements(frame: &SensorFrame, t: Ps) -> twin_machine::devices::Measurements {
    use hil_proto::devices as conv;
    use twin_machine::devices::{icm42688::ImuSample, ublox::NavPvt, Measurements};
    let f64s = |v: [f32; 3]| v.map(f64::from);
    Measurements {
        imu: Some(ImuSample {
            accel: f64s(frame.accel),
            gyro: f64s(frame.gyro),
            temp: conv::BARO_TEMP_C,
        }),
        baro: frame
            .baro
            .map(|alt| (conv::BARO_TEMP_C, conv::pressure(f64::from(alt)))),
        mag_ut: frame.mag.map(|g| f64s(g).map(|x| x * 100.0)),
        gnss: frame.gnss.map(|(pos, vel)| {
            let (lat, lon, alt) = conv::geodetic(f64s(pos));
            NavPvt {
                itow_ms: (t / (PS_PER_S / 1000)) as u32,
                lat,
                lon,
                h_msl: alt,
                height: alt,
                vel_ned: f64s(vel),
                h_acc: 0.5,
                v_acc: 0.8,
                s_acc: 0.1,
                fix_type: 3,
                num_sv: 12,
            }
        }),
    }
}

fn event_text(tick: u32, code: Event) -> String {
    match code {
        Event::Overrun { core: 4 } => {
            format!("the CM4 did not answer within the period (tick {tick})")
        }
        Event::Overrun { core } => format!("CM{core} overran its period (tick {tick})"),
        Event::LinkStalled => {
            format!("the board saw no sensor frame for 100 ms after tick {tick}: motors at zero")
        }
        Event::BadFrame => format!("the board dropped a corrupted frame (tick {tick})"),
        Event::Stopped => format!("the board stopped after tick {tick}: motors at zero"),
        Event::Device { device } => {
            let part = match device {
                1 => "the IMU (ICM-42688-P on LPSPI2)",
                2 => "the barometer (BMP388 on LPI2C3)",
                3 => "the magnetometer (BMM150 on LPI2C3)",
                4 => "the IO MCU (LPUART6)",
                _ => "a device",
            };
            format!("{part} did not answer as its part should (tick {tick})")
        }
    }
}

/// A tick's report from the firmware.
struct Report {
    state: [f32; STATE_WORDS],
    motors: [f32; 4],
    setpoints: [f32; 9],
    m4_cycles: u64,
    m7_cycles: u64,
    mu_latency_ns: u64,
    /// Full-system: driver cycles, handler cycles, interrupts.
    load: Option<[u64; 3]>,
}

impl Target {
    /// Attach to the firmware's RTT control block (at `rtt_at`, or searched in DTCM), wait for
    /// its Hello, check that it hosts the flight module whose `.wasm` has CRC-32C
    /// `flight_crc` with both cores up, and start a run: period, initial NavState.
    pub fn connect(
        mut board: Box<dyn Board>,
        rtt_at: Option<u32>,
        flight_crc: u32,
        period: Ps,
        state0: [f32; STATE_WORDS],
        devices: bool,
    ) -> Result<Target> {
        let t0 = board.now_s();
        let rtt = loop {
            let found = match rtt_at {
                Some(a) => Rtt::attach(board.memory(), a),
                None => {
                    let ranges = board.rtt_ranges();
                    Rtt::find(board.memory(), &ranges)
                }
            };
            match found {
                Ok(r) => break r,
                Err(e) if board.now_s() - t0 > BOOT_S => {
                    return Err(target_error(format!(
                        "{}: {e} after {BOOT_S} s; is the HIL firmware running? (build it with targets/hil/build.sh; on a board pass --flash to load it){}",
                        board.describe(),
                        board.diagnose()
                    )))
                }
                Err(_) => board.advance()?,
            }
        };
        let mut link = Link::new(rtt);
        let hello = loop {
            let mut got = None;
            for m in link.poll::<Up>(board.memory()).map_err(rtt_error)? {
                if let Ok(h @ Up::Hello { .. }) = m {
                    got = Some(h);
                }
            }
            if let Some(h) = got {
                break h;
            }
            if board.now_s() - t0 > BOOT_S {
                return Err(target_error(format!(
                    "{}: the RTT control block is there but the firmware said nothing within {BOOT_S} s{}",
                    board.describe(),
                    board.diagnose()
                )));
            }
            board.advance()?;
        };
        let Up::Hello {
            version,
            cores,
            flight_crc: crc,
            devices: fs,
        } = hello
        else {
            unreachable!("only a Hello breaks the loop")
        };
        let what = board.describe();
        if version != hil_proto::VERSION {
            return Err(target_error(format!(
                "{what}: the firmware speaks protocol version {version}, this host {}; rebuild it with targets/hil/build.sh",
                hil_proto::VERSION
            )));
        }
        if cores != 2 {
            return Err(target_error(format!(
                "{what}: the CM4 did not come up (the firmware reports {cores} core){}",
                board.diagnose()
            )));
        }
        if fs != devices {
            let (is, want) = if fs {
                (
                    "the full-system build (hil-fs-m7.elf)",
                    "--target emulated|probe",
                )
            } else {
                ("the HIL build (hil-m7.elf)", "full-system mode")
            };
            return Err(target_error(format!(
                "{what}: the firmware is {is}, which {want} does not fly; give the other image from targets/hil/build.sh"
            )));
        }
        if crc != flight_crc {
            return Err(target_error(format!(
                "{what}: the firmware hosts a different flight module (wasm CRC-32C {crc:#010x}, the scenario's is {flight_crc:#010x}); rebuild it with targets/hil/build.sh <the scenario's .wasm>"
            )));
        }
        let period_us = u32::try_from(period / PS_PER_US)
            .map_err(|_| TwinError::Usage("control period too long for the HIL firmware".into()))?;
        link.send(board.memory(), &Down::Start { period_us, state0 })
            .map_err(rtt_error)?;
        let desc = BoardDesc::rt1176();
        let index = |n: &str| desc.core_index(n).expect("the RT1176 has both cores");
        let ps = |n: &str| {
            let c = &desc.cores[index(n)];
            PS_PER_S / c.clock_hz
        };
        Ok(Target {
            board,
            link,
            ps: (ps("m4"), ps("m7")),
            cores: (index("m4"), index("m7")),
            stall_s: STALL_S,
            stopped: false,
            devices: devices.then(Devices::default),
        })
    }
}

fn rtt_error(e: crate::rtt::RttError) -> Error {
    target_error(format!("RTT: {e}"))
}

impl Target {
    /// Let the target run until tick `k`'s report (and, in full-system mode, its load report)
    /// arrives; what else came up is in `events`.
    fn await_report(&mut self, k: u32, events: &mut Vec<String>) -> Result<Report> {
        let want_load = self.devices.is_some();
        let board = &mut self.board;
        let t0 = board.now_s();
        let mut got: Option<Report> = None;
        loop {
            board.advance()?;
            self.link.flush(board.memory()).map_err(rtt_error)?;
            for m in self.link.poll::<Up>(board.memory()).map_err(rtt_error)? {
                match m {
                    Ok(Up::Tick {
                        tick,
                        state,
                        motors,
                        setpoints,
                        m4_cycles,
                        m7_cycles,
                        mu_latency_ns,
                    }) if tick == k => {
                        got = Some(Report {
                            state,
                            motors,
                            setpoints,
                            m4_cycles: u64::from(m4_cycles),
                            m7_cycles: u64::from(m7_cycles),
                            mu_latency_ns: u64::from(mu_latency_ns),
                            load: None,
                        })
                    }
                    Ok(Up::Tick { tick, .. }) => {
                        events.push(format!("a report for tick {tick} while waiting for {k}"))
                    }
                    Ok(Up::Load {
                        tick,
                        driver_cycles,
                        irq_cycles,
                        irqs,
                    }) if tick == k => {
                        if let Some(r) = got.as_mut() {
                            r.load = Some([driver_cycles, irq_cycles, irqs].map(u64::from));
                        }
                    }
                    Ok(Up::Load { .. }) => {}
                    Ok(Up::Event { tick, code }) => events.push(event_text(tick, code)),
                    Ok(Up::Hello { .. }) => {
                        return Err(target_error(format!(
                            "{}: the firmware restarted during tick {k}",
                            board.describe()
                        )))
                    }
                    Err(e) => events.push(format!("a corrupted frame from the board: {e}")),
                }
            }
            if let Some(r) = got.take_if(|r| !want_load || r.load.is_some()) {
                return Ok(r);
            }
            if board.now_s() - t0 > self.stall_s {
                return Err(target_error(format!(
                    "link stalled: no report for tick {k} within {} s from {}; motors commanded to zero{}",
                    self.stall_s,
                    board.describe(),
                    board.diagnose()
                )));
            }
        }
    }

    /// Full-system tick: bring the twin to the tick's start, send the waypoint, give the
    /// devices the tick's measurements, wait for the reports; the motors are what the IO MCU
    /// drives.
    fn tick_devices(
        &mut self,
        k: u32,
        t_k: Ps,
        frame: &SensorFrame,
        waypoint: [f32; 4],
        events: &mut Vec<String>,
    ) -> Result<(Report, Control)> {
        let offset = match self.devices.as_ref().and_then(|d| d.offset) {
            Some(o) => o,
            None => {
                // The first tick: the firmware takes `Start` (the estimator's init) and arms
                // the IO MCU before the first sample.
                let t0 = self.board.now_s();
                while !self.twin()?.io_outputs().is_some_and(|o| o.armed) {
                    if self.board.now_s() - t0 > self.stall_s {
                        return Err(target_error(format!(
                            "{}: the IO MCU was not armed within {} s of Start{}",
                            self.board.describe(),
                            self.stall_s,
                            self.board.diagnose()
                        )));
                    }
                    self.board.advance()?;
                }
                let at = self.machine_now()?;
                let o = at - t_k;
                let buses = self.twin()?.bus_load();
                let awake = self.awake()?;
                let d = self.devices.as_mut().expect("full-system mode");
                (d.offset, d.buses_at_start, d.awake) = (Some(o), buses, awake);
                o
            }
        };
        let at = t_k + offset;
        let now = self.machine_now()?;
        if now > at {
            events.push(format!(
                "the firmware's work ran {:.1} us into tick {k}",
                (now - at) as f64 / PS_PER_US as f64
            ));
        }
        self.board.run_to(at)?;
        let down = Down::Setpoint { tick: k, waypoint };
        self.link
            .send(self.board.memory(), &down)
            .map_err(rtt_error)?;
        self.twin()?.sense(&measurements(frame, t_k))?;
        let report = self.await_report(k, events)?;
        let m = self.twin()?;
        let io = m.io_outputs().ok_or_else(|| {
            target_error("the board has no IO MCU (io_uart) for full-system mode".to_string())
        })?;
        let buses = m.bus_load();
        let end = m.now();
        let mut outputs: Vec<(String, f64)> = io.pwm_us[..4]
            .iter()
            .enumerate()
            .map(|(k, &us)| (format!("IO MAIN{}", k + 1), f64::from(us)))
            .collect();
        for (name, pwm, sm) in FMU_AUX {
            let high = m
                .soc
                .borrow_mut()
                .pwm_output(pwm, sm, end)
                .map_or(0.0, |o| o.1);
            outputs.push((name.to_string(), (high * 1e6 * 1e3).round() / 1e3));
        }
        let awake = self.awake()?;
        let d = self.devices.as_mut().expect("full-system mode");
        let [drv, irq, irqs] = report.load.unwrap_or_default();
        let (ps4, ps7) = self.ps;
        d.ticks.push(TickLoad {
            driver_cycles: drv,
            irq_cycles: irq,
            irqs,
            m7_awake_cycles: (awake[0] - d.awake[0]) / ps7,
            m4_awake_cycles: (awake[1] - d.awake[1]) / ps4,
        });
        d.awake = awake;
        d.buses = buses;
        d.span = end.saturating_sub(offset);
        d.outputs = outputs;
        let motors = io.pwm_us[..4]
            .iter()
            .map(|&us| hil_proto::devices::command(us))
            .collect::<Vec<_>>()
            .try_into()
            .expect("four motors");
        let control = Control {
            motors,
            at: io
                .commanded_at
                .map_or(t_k, |c| c.saturating_sub(offset).max(t_k)),
            setpoints: None,
        };
        Ok((report, control))
    }

    fn twin(&mut self) -> Result<&mut Machine> {
        self.board
            .machine()
            .ok_or_else(|| target_error("full-system mode runs on the twin only".to_string()))
    }

    fn machine_now(&mut self) -> Result<Ps> {
        Ok(self.twin()?.now())
    }

    /// Each core's awake time so far (CM7, CM4), ps.
    fn awake(&mut self) -> Result<[Ps; 2]> {
        let (i4, i7) = self.cores;
        let s = self.twin()?.summary();
        Ok([i7, i4].map(|i| s[i].virtual_time_ps - s[i].sleep_ps))
    }
}

impl FlightComputer for Target {
    fn tick(
        &mut self,
        tick: u64,
        t_k: Ps,
        period: Ps,
        frame: &SensorFrame,
        waypoint: [f32; 4],
    ) -> Result<FcTick> {
        let k = tick as u32;
        let mut events = Vec::new();
        let (ps4, ps7) = self.ps;
        let (r, mut control) = if self.devices.is_some() {
            self.tick_devices(k, t_k, frame, waypoint, &mut events)?
        } else {
            let down = Down::Sensor {
                tick: k,
                frame: hil_proto::aiding_frame(
                    frame.imu(),
                    frame.dt,
                    frame.gnss,
                    frame.baro,
                    frame.mag,
                ),
                waypoint,
            };
            self.link
                .send(self.board.memory(), &down)
                .map_err(rtt_error)?;
            let r = self.await_report(k, &mut events)?;
            let at = t_k + r.m4_cycles * ps4 + r.mu_latency_ns * 1000 + r.m7_cycles * ps7;
            let control = Control {
                motors: r.motors,
                at,
                setpoints: None,
            };
            (r, control)
        };
        let (a, rate) = r.setpoints.split_at(5);
        control.setpoints = a.try_into().ok().zip(rate.try_into().ok());
        Ok(FcTick {
            state: r.state,
            control: Some(control),
            m4_cycles: r.m4_cycles,
            m7_cycles: r.m7_cycles,
            m4_stack: 0,
            m7_stack: 0,
            mu_latency_ns: r.mu_latency_ns,
            overrun_m4: r.m4_cycles * ps4 > period,
            overrun_m7: r.m7_cycles * ps7 > period,
            events,
        })
    }

    fn machine(&mut self) -> Option<&mut Machine> {
        self.board.machine()
    }

    fn cores(&self) -> (usize, usize) {
        self.cores
    }

    fn ps_per_cycle(&self) -> (Ps, Ps) {
        self.ps
    }

    fn backends(&self) -> (Backend, Backend) {
        (Backend::Arm, Backend::Arm)
    }

    fn describe(&self) -> String {
        self.board.describe()
    }

    fn set_nav_faults(&mut self, delay: u32, jitter: u32) -> Result<()> {
        if delay > 0 || jitter > 0 {
            return Err(TwinError::Usage(
                "vehicle-state delay and jitter faults are injected by the hosted CM4 runtime; the HIL and full-system firmware do not inject them (run this scenario hosted)".into(),
            ).into());
        }
        Ok(())
    }

    fn full_system(&self) -> Option<FullSystemLoad> {
        let d = self.devices.as_ref()?;
        let before = |bus: &str| {
            d.buses_at_start
                .iter()
                .find(|(b, _)| b == bus)
                .map_or(0, |(_, p)| *p)
        };
        Some(FullSystemLoad {
            ticks: d.ticks.clone(),
            buses: d
                .buses
                .iter()
                .map(|(bus, busy)| (bus.clone(), (busy - before(bus)) as f64 / PS_PER_S as f64))
                .collect(),
            span_s: d.span as f64 / PS_PER_S as f64,
            outputs: d.outputs.clone(),
        })
    }

    /// Tell the firmware to stop (motors to zero) and give it a moment to read it; best
    /// effort: the link may be what failed.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        if self.link.send(self.board.memory(), &Down::Stop).is_err() {
            return;
        }
        let t0 = self.board.now_s();
        while self.board.now_s() - t0 < 0.01 {
            if self.board.advance().is_err() {
                return;
            }
            let _ = self.link.flush(self.board.memory());
        }
    }
}

/// The flight module's CRC-32C, as the firmware reports it (hil-build).
pub fn flight_crc(wasm: &Path) -> Result<u32> {
    let bytes = std::fs::read(wasm).map_err(|e| TwinError::Io {
        path: wasm.display().to_string(),
        source: e,
    })?;
    Ok(hil_proto::crc32c(&bytes))
}

/// The closed loop of `s` with the flight code in target mode (`root` resolves the scenario's
/// paths).
pub fn build(s: &Scenario, root: &Path, spec: &TargetSpec) -> Result<FlightLoop> {
    if !s.flight.modules.is_empty() || s.flight.dividers != Default::default() {
        return Err(TwinError::Usage(format!(
            "{}: the HIL firmware hosts one module (`wasm`) and runs every stage every tick; this scenario gives `modules` or `dividers` (run it without --target)",
            s.name
        ))
        .into());
    }
    let wasm = twin_flight::scenario::flight_wasm(s, root)?;
    let crc = flight_crc(&wasm)?;
    let image_path = match spec {
        TargetSpec::Emulated { image }
        | TargetSpec::Probe { image, .. }
        | TargetSpec::FullSystem { image } => image,
    };
    if !image_path.exists() {
        return Err(TwinError::Usage(format!(
            "firmware image {} not found: build it with `targets/hil/build.sh {}`",
            image_path.display(),
            wasm.display()
        ))
        .into());
    }
    let image = Image::load(image_path)?;
    let rtt_at = image.symbols.address_of("_SEGGER_RTT");
    let board: Box<dyn Board> = match spec {
        TargetSpec::Emulated { image } => Box::new(Emulated::new(image)?),
        TargetSpec::FullSystem { image } => Box::new(Emulated::full_system(image)?),
        TargetSpec::Probe {
            selector, flash, ..
        } => Box::new(crate::probe::ProbeBoard::open(
            selector.as_deref(),
            flash.then_some(&image),
        )?),
    };
    let period = (s.dt * PS_PER_S as f64).round() as Ps;
    let state0 = twin_flight::flightloop::initial_state(&s.initial_state());
    let devices = matches!(spec, TargetSpec::FullSystem { .. });
    let target = Target::connect(board, rtt_at, crc, period, state0, devices)?;
    twin_flight::scenario::build_with(s, Box::new(target))
}

/// The session a scenario asks for: in target mode when `target` is given, full-system when
/// the scenario names its firmware (`flight.firmware`, its image resolved against `root`),
/// hosted otherwise (`objects` is where the hosted runtime keeps synth's objects).
pub fn open_session(
    s: Scenario,
    root: &Path,
    objects: &Path,
    target: Option<&TargetSpec>,
) -> Result<Session> {
    match (target, &s.flight.firmware) {
        (Some(spec), _) => session(s, root, spec),
        (None, Some(fw)) => {
            // Not found anywhere: the project's path, which the image check names.
            let image = s
                .find(root, &fw.image)
                .unwrap_or_else(|_| root.join(&fw.image));
            let spec = TargetSpec::FullSystem { image };
            session(s, root, &spec)
        }
        (None, None) => Session::open(s, root, objects),
    }
}

/// A session of scenario `s` in target mode (`root` resolves its paths): the flight code is
/// the HIL firmware that `spec` names.
pub fn session(s: Scenario, root: &Path, spec: &TargetSpec) -> Result<Session> {
    let lp = build(&s, root, spec)?;
    Ok(Session::with_loop(s, lp))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use hil_proto::Decoder;

    use super::*;
    use crate::rtt::fake::{target, target_read_down, target_write_up, Ram};
    use crate::rtt::Memory;
    use twin_flight::session::Session;

    const CB: usize = 0x100;

    /// A board that follows the protocol from a script: Hello at its first step, a tick
    /// report for each sensor frame before `answer_until`, silence after; every message it
    /// receives is logged.
    struct Scripted {
        ram: Ram,
        t: f64,
        crc: u32,
        answer_until: u32,
        /// Ticks whose report is preceded by a corrupted frame.
        corrupt_before: Option<u32>,
        /// The Hello says the full-system build.
        devices: bool,
        decoder: Decoder,
        log: Rc<RefCell<Vec<Down>>>,
    }

    impl Scripted {
        fn new(crc: u32, answer_until: u32) -> (Scripted, Rc<RefCell<Vec<Down>>>) {
            let log = Rc::default();
            let board = Scripted {
                ram: target(CB, 1024, 512),
                t: 0.0,
                crc,
                answer_until,
                corrupt_before: None,
                devices: false,
                decoder: Decoder::default(),
                log: Rc::clone(&log),
            };
            (board, log)
        }

        fn up(&mut self, msg: &Up) {
            let mut f = [0u8; hil_proto::MAX_FRAME];
            let n = hil_proto::encode(msg, &mut f).unwrap();
            assert_eq!(target_write_up(&mut self.ram, CB, &f[..n]), n);
        }
    }

    impl Board for Scripted {
        fn memory(&mut self) -> &mut dyn Memory {
            &mut self.ram
        }
        fn advance(&mut self) -> Result<()> {
            if self.t == 0.0 {
                self.up(&Up::Hello {
                    version: hil_proto::VERSION,
                    cores: 2,
                    flight_crc: self.crc,
                    devices: self.devices,
                });
            }
            self.t += 0.001;
            for b in target_read_down(&mut self.ram, CB) {
                let Some(Ok(m)) = self.decoder.push::<Down>(b) else {
                    continue;
                };
                self.log.borrow_mut().push(m.clone());
                if let Down::Sensor { tick, .. } = m {
                    if self.corrupt_before == Some(tick) {
                        let mut f = [0u8; hil_proto::MAX_FRAME];
                        let n = hil_proto::encode(
                            &Up::Event {
                                tick,
                                code: Event::BadFrame,
                            },
                            &mut f,
                        )
                        .unwrap();
                        f[2] ^= 0x40;
                        target_write_up(&mut self.ram, CB, &f[..n]);
                    }
                    if tick < self.answer_until {
                        self.up(&Up::Tick {
                            tick,
                            state: [0.0; STATE_WORDS],
                            motors: [0.5; 4],
                            setpoints: [0.0; 9],
                            m4_cycles: 90_000,
                            m7_cycles: 5_000,
                            mu_latency_ns: 2_000,
                        });
                    }
                }
            }
            Ok(())
        }
        fn now_s(&self) -> f64 {
            self.t
        }
        fn rtt_ranges(&self) -> Vec<(u32, u32)> {
            vec![(crate::rtt::fake::BASE, 0x4000)]
        }
        fn describe(&self) -> String {
            "the scripted board".into()
        }
    }

    fn stabilization() -> Scenario {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        Scenario::load(&dir.join("stabilization.ron")).unwrap()
    }

    fn connect(board: Scripted, crc: u32) -> Result<Target> {
        let s = stabilization();
        let state0 = twin_flight::flightloop::initial_state(&s.initial_state());
        Target::connect(Box::new(board), None, crc, 2_000 * PS_PER_US, state0, false)
    }

    /// Linear memory and an allocator that hands out its next free bytes: enough of a guest
    /// for the canonical ABI to lower arguments into.
    #[derive(Default)]
    struct Scratch(Vec<u8>);

    impl twin_hosting::canon::Guest for Scratch {
        fn call(
            &mut self,
            export: &str,
            args: &[twin_hosting::wasm::Val],
            _: usize,
        ) -> twin_machine::Result<std::result::Result<Vec<twin_hosting::wasm::Val>, String>>
        {
            use twin_hosting::wasm::Val;
            assert_eq!(export, "cabi_realloc");
            let [_, _, Val::I32(align), Val::I32(size)] = args else {
                panic!("{args:?}")
            };
            let at = self.0.len().next_multiple_of(*align as usize);
            self.0.resize(at + *size as usize, 0);
            Ok(Ok(vec![Val::I32(at as u32)]))
        }
        fn read(&mut self, ptr: u32, len: u32) -> twin_machine::Result<Vec<u8>> {
            Ok(self.0[ptr as usize..(ptr + len) as usize].to_vec())
        }
        fn write(&mut self, ptr: u32, bytes: &[u8]) -> twin_machine::Result<()> {
            self.0[ptr as usize..ptr as usize + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }
        fn has_export(&mut self, name: &str) -> bool {
            name == "cabi_realloc"
        }
    }

    /// The HIL firmware copies `hil_proto::aiding_frame`'s words into linear memory as the
    /// `aiding-frame` argument: they must be the bytes the twin's canonical ABI lowers from the
    /// WIT (a second implementation of the layout).
    #[test]
    fn the_firmwares_aiding_frame_is_the_canonical_abi_layout() {
        use twin_hosting::backend::{builtin_wit, Iface};
        use twin_hosting::wasm::Val;
        let wit = builtin_wit().unwrap();
        let f = wit.function(&Iface::AidedEstimate.export()).unwrap();
        let g = [(1.5, -2.0, 3.25), (4.0, 5.0, -6.5)];
        let frames = [
            SensorFrame {
                accel: [0.1, -0.2, -9.8],
                gyro: [0.01, 0.02, -0.03],
                dt: 0.002,
                gnss: Some(([g[0].0, g[0].1, g[0].2], [g[1].0, g[1].1, g[1].2])),
                baro: Some(5.5),
                mag: Some([0.2, 0.0, 0.4]),
            },
            SensorFrame {
                accel: [1.0, 2.0, 3.0],
                gyro: [f32::NAN, -0.0, f32::INFINITY],
                dt: 0.001,
                gnss: None,
                baro: Some(-1.0),
                mag: None,
            },
            SensorFrame::default(),
        ];
        for frame in frames {
            let v = f.param_from_fields(0, &|n| frame.field(n)).unwrap();
            let mut mem = Scratch::default();
            let core = twin_hosting::canon::lower(f, &mut mem, Some("cabi_realloc"), &[v])
                .unwrap()
                .unwrap();
            let [Val::I32(ptr)] = core[..] else {
                panic!("spilled to one pointer: {core:?}")
            };
            let canonical = twin_hosting::canon::Guest::read(&mut mem, ptr, 84).unwrap();
            let words =
                hil_proto::aiding_frame(frame.imu(), frame.dt, frame.gnss, frame.baro, frame.mag);
            let ours: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(ours, canonical, "{frame:?}");
            assert_eq!(mem.0.len() as u32, ptr + 84, "the record is 84 bytes");
        }
    }

    #[test]
    fn a_stalled_link_stops_the_run_keeps_the_trace_and_stops_the_board() {
        let (board, log) = Scripted::new(7, 10);
        let target = connect(board, 7).unwrap();
        let s = stabilization();
        let lp = twin_flight::scenario::build_with(&s, Box::new(target)).unwrap();
        let mut session = Session::with_loop(s, lp);
        while session.step() {}
        let why = session.stopped().expect("the run stops");
        assert!(
            why.contains("tick 10")
                && why.contains("link stalled")
                && why.contains("motors commanded to zero"),
            "{why}"
        );
        assert_eq!(
            session.trace().len(),
            10,
            "the ticks before the stall are kept"
        );
        assert_eq!(session.trace()[9].motors, [0.5; 4]);
        assert_eq!(session.trace()[9].m4_cycles, 90_000);
        let log = log.borrow();
        assert!(
            matches!(
                log[0],
                Down::Start {
                    period_us: 2000,
                    ..
                }
            ),
            "{:?}",
            log[0]
        );
        assert_eq!(sensor_frames(&log), 11);
        assert_eq!(
            log.last(),
            Some(&Down::Stop),
            "the board was told to cut the motors"
        );
    }

    /// How many sensor frames the board received.
    fn sensor_frames(log: &[Down]) -> usize {
        log.iter()
            .filter(|m| matches!(m, Down::Sensor { .. }))
            .count()
    }

    /// SIGINT in target mode: the run ends between two ticks, the board is told to cut the
    /// motors (`Down::Stop`, the last message) before anything else, the report says
    /// interrupted and the ticks flown are kept.
    #[test]
    fn an_interrupted_run_commands_the_motors_to_zero() {
        let (board, log) = Scripted::new(7, 1000);
        let target = connect(board, 7).unwrap();
        let s = stabilization();
        let lp = twin_flight::scenario::build_with(&s, Box::new(target)).unwrap();
        let mut session = Session::with_loop(s, lp);
        for _ in 0..5 {
            assert!(session.step());
        }
        let sensors_before = sensor_frames(&log.borrow());
        session.interrupt("SIGINT");
        assert!(!session.step(), "nothing runs after the interrupt");
        assert_eq!(log.borrow().last(), Some(&Down::Stop));
        assert_eq!(
            sensor_frames(&log.borrow()),
            sensors_before,
            "no tick after the stop"
        );
        let report = session.report();
        assert_eq!(report.interrupted.as_deref(), Some("SIGINT"));
        assert_eq!(report.ticks, 5);
        assert!(!report.pass);
        assert_eq!(
            report.stopped.as_deref(),
            Some("interrupted by SIGINT before tick 5")
        );
    }

    #[test]
    fn a_corrupted_frame_from_the_board_is_reported_and_the_run_goes_on() {
        let (mut board, _) = Scripted::new(7, 1000);
        board.corrupt_before = Some(3);
        let target = connect(board, 7).unwrap();
        let s = stabilization();
        let mut lp = twin_flight::scenario::build_with(&s, Box::new(target)).unwrap();
        let rows: Vec<_> = (0..5).map(|_| lp.step().unwrap()).collect();
        assert!(
            rows[3].events.iter().any(|e| e.contains("corrupted frame")),
            "{:?}",
            rows[3].events
        );
        assert!(rows
            .iter()
            .enumerate()
            .all(|(k, r)| k == 3 || r.events.is_empty()));
        assert_eq!(
            rows[4].motors, [0.5; 4],
            "tick 3's report and the next ones arrived"
        );
    }

    #[test]
    fn a_board_with_another_flight_module_or_no_firmware_is_refused() {
        let (board, _) = Scripted::new(0x1234, 10);
        let e = connect(board, 0x5678).err().unwrap().to_string();
        assert!(
            e.contains("different flight module") && e.contains("0x00001234"),
            "{e}"
        );

        // The full-system build where the HIL firmware is expected, and the other way round.
        let (mut board, _) = Scripted::new(7, 10);
        board.devices = true;
        let e = connect(board, 7).err().unwrap().to_string();
        assert!(e.contains("full-system build (hil-fs-m7.elf)"), "{e}");
        let (board, _) = Scripted::new(7, 10);
        let state0 = [0.0; STATE_WORDS];
        let e = Target::connect(Box::new(board), None, 7, 2_000 * PS_PER_US, state0, true)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("HIL build (hil-m7.elf)"), "{e}");

        // No control block anywhere: an error naming the searched range, after BOOT_S.
        let (mut board, _) = Scripted::new(7, 10);
        board.ram = Ram(vec![0; 0x4000]);
        board.t = 1.0; // no Hello either
        let e = connect(board, 7).err().unwrap().to_string();
        assert!(
            e.contains("no RTT control block") && e.contains("--flash"),
            "{e}"
        );
    }
}
