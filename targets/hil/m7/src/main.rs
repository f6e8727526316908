//! HIL firmware, CM7 image: the controller stages, the link to the host, and the CM4's boot.
//!
//! At reset: default-NaN FPU mode and DWT CYCCNT, RTT (up channel 0 to the host, down channel
//! 0 from it), the stages' instance (synth's object under the embedder ABI), GPT2 as the
//! shared 24 MHz time base, then the CM4 image copied into the CM4's TCMs and the CM4 released
//! through SRC (rt1176.md 1.3). `Up::Hello` says whether the CM4 came up and which flight
//! module this image hosts.
//!
//! The loop is paced by GPT1 (restart mode at the control period, IRQ 119). At each tick the
//! down channel is read; `Down::Start` initialises the estimator (a request to the CM4) and
//! sets the period; the tick's `Down::Sensor` frame goes to the CM4 (request block in OCRAM2
//! and MU channel 1); the CM4's vehicle-state comes back through the mailbox and MU channel 0
//! (IRQ 118, stamped with GPT2); falcon-cascade's stages run on it (position, attitude, rate
//! through spilled records, the mixer with its four f32 in S0-S3), timed with DWT CYCCNT; and
//! `Up::Tick` carries the vehicle-state, motor commands, the attitude and rate setpoints, both
//! cores' cycles and the MU latency. No frame
//! for `STALL_TICKS` periods: the motors are commanded to zero and `LinkStalled` reported.
//!
//! The full-system build (feature `devices`, `hil-fs-m7.elf`) takes no sensor frames: each
//! control tick starts at the IMU's data-ready interrupt, the drivers (`drivers.rs`) read the
//! IMU, barometer, magnetometer and GNSS into the frame, and the motors go to the IO MCU; the
//! link carries only the waypoint (`Down::Setpoint`, which also numbers the tick), the tick
//! reports and `Up::Load` (driver and interrupt cycles).
#![no_std]
#![no_main]

#[cfg(feature = "devices")]
mod drivers;

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m_rt::entry;
use hil_common::Instance;
use hil_common::{
    m4_status, mu_rf, mu_te, nav, read, read_words, request, write, write_u32s, Flags, GPT1,
    GPT1_IRQ, GPT_CR, GPT_CR_CLK_ROOT, GPT_CR_EN, GPT_CR_ENMOD, GPT_HZ, GPT_IR, GPT_OCR1, GPT_PR,
    GPT_SR, LPSR_GPR0, LPSR_GPR1, MUA, MU_CR, MU_IRQ, MU_RR, MU_SR, MU_TR, SRC_SCR,
};
use hil_proto::{Decoder, Down, Event, Up, MAX_FRAME, STATE_WORDS};
use rtt_target::{rtt_init, ChannelMode, DownChannel, UpChannel};

include!(concat!(env!("OUT_DIR"), "/wasm_init.rs"));
include!(concat!(env!("OUT_DIR"), "/m4_image.rs"));

extern "C" {
    #[link_name = "cabi_realloc"]
    fn cabi_realloc();
    #[link_name = "pulseengine:falcon-cascade/position@0.10.0#tick"]
    fn position_tick();
    #[link_name = "pulseengine:falcon-cascade/attitude@0.10.0#tick"]
    fn attitude_tick();
    #[link_name = "pulseengine:falcon-cascade/rate@0.10.0#tick"]
    fn rate_tick();
    #[link_name = "pulseengine:falcon-cascade/mixer@0.10.0#mix"]
    fn mixer_mix();
}

/// A stage whose parameters (the vehicle-state and one more record) spill to linear memory, as
/// the hosted runtime lowers them: a buffer from `cabi_realloc`, the records in it, the export
/// called with its address. Its result's address; the allocator's and the export's cycles
/// are added to `cycles`.
fn spilled(
    inst: &Instance,
    export: unsafe extern "C" fn(),
    state: &[f32; STATE_WORDS],
    rest: &[f32],
    cycles: &mut u32,
) -> u32 {
    let bytes = 4 * (STATE_WORDS + rest.len()) as u32;
    let c0 = hil_common::cycles();
    let p = inst.alloc(cabi_realloc, 4, bytes);
    *cycles += hil_common::cycles().wrapping_sub(c0);
    inst.put(p, state);
    inst.put(p + 4 * STATE_WORDS as u32, rest);
    let c0 = hil_common::cycles();
    let out = inst.call(export, [p, 0, 0, 0]);
    *cycles += hil_common::cycles().wrapping_sub(c0);
    out
}

static FLAGS: Flags = Flags::new();
const TICK: u32 = 1;
const NAV: u32 = 2;
/// The IMU's data-ready (full-system build).
#[cfg(feature = "devices")]
const DRDY: u32 = 4;
/// GPT2 at the MU interrupt, and the sequence number it carried.
static NAV_STAMP: AtomicU32 = AtomicU32::new(0);
static NAV_SEQ: AtomicU32 = AtomicU32::new(0);

/// Periods without a sensor frame before the motors are cut (100 ms at 500 Hz).
#[cfg(not(feature = "devices"))]
const STALL_TICKS: u32 = 50;
/// Periods to wait for the CM4 at boot (1 s at the default 2 ms).
const BOOT_TICKS: u32 = 500;
const DEFAULT_PERIOD_US: u32 = 2000;

/// DWT cycles spent in `hil_irq` and the interrupts taken, since the last `Up::Load`.
static IRQ_CYCLES: AtomicU32 = AtomicU32::new(0);
static IRQS: AtomicU32 = AtomicU32::new(0);

#[no_mangle]
fn hil_irq(irq: u16) {
    let c0 = hil_common::cycles();
    match irq {
        GPT1_IRQ => {
            write(GPT1 + GPT_SR, 1); // OF1, write 1 to clear
            FLAGS.raise(TICK);
        }
        MU_IRQ if read(MUA + MU_SR) & mu_rf(0) != 0 => {
            NAV_STAMP.store(hil_common::timebase(), Relaxed);
            NAV_SEQ.store(read(MUA + MU_RR), Relaxed); // RR0: clears RF0
            FLAGS.raise(NAV);
        }
        #[cfg(feature = "devices")]
        drivers::DRDY_IRQ => {
            if drivers::imu_irq() {
                FLAGS.raise(DRDY);
            }
        }
        #[cfg(feature = "devices")]
        drivers::I2C_IRQ => drivers::i2c_irq(),
        #[cfg(feature = "devices")]
        drivers::SPI_IRQ => drivers::spi_irq(),
        #[cfg(feature = "devices")]
        drivers::GNSS_IRQ => drivers::gnss_irq(),
        #[cfg(feature = "devices")]
        drivers::IO_IRQ => drivers::io_irq(),
        _ => {}
    }
    IRQ_CYCLES.fetch_add(hil_common::cycles().wrapping_sub(c0), Relaxed);
    IRQS.fetch_add(1, Relaxed);
}

/// GPT1 in restart mode: a compare interrupt every `period_us` (1 MHz after the prescaler).
fn pace(period_us: u32) {
    write(GPT1 + GPT_CR, 0);
    write(GPT1 + GPT_PR, GPT_HZ / 1_000_000 - 1);
    write(GPT1 + GPT_OCR1, period_us.max(1) - 1);
    write(GPT1 + GPT_SR, 0x3F);
    write(GPT1 + GPT_IR, 1); // OF1IE
    write(GPT1 + GPT_CR, GPT_CR_CLK_ROOT | GPT_CR_ENMOD | GPT_CR_EN);
}

/// Copy the CM4 image into its TCMs (CM7 view), set its boot address and release it.
fn boot_m4() {
    for (addr, bytes) in M4_IMAGE {
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            write(addr + 4 * i as u32, u32::from_le_bytes(w));
        }
    }
    cortex_m::asm::dsb();
    write(m4_status::BASE, 0);
    write(LPSR_GPR0, M4_BOOT & 0xFFF8);
    write(LPSR_GPR1, M4_BOOT >> 16);
    write(SRC_SCR, read(SRC_SCR) | 1); // BT_RELEASE_M4
}

struct Link {
    up: UpChannel,
    down: DownChannel,
    decoder: Decoder,
}

impl Link {
    fn send(&mut self, msg: &Up) {
        let mut f = [0u8; MAX_FRAME];
        if let Ok(n) = hil_proto::encode(msg, &mut f) {
            self.up.write(&f[..n]);
        }
    }

    /// Every complete message in the down channel now (bad frames reported up).
    fn receive(&mut self, tick: u32, mut on: impl FnMut(&mut Link, Down)) {
        let mut buf = [0u8; 128];
        loop {
            let n = self.down.read(&mut buf);
            if n == 0 {
                return;
            }
            for &b in &buf[..n] {
                match self.decoder.push::<Down>(b) {
                    Some(Ok(m)) => on(self, m),
                    Some(Err(_)) => self.send(&Up::Event {
                        tick,
                        code: Event::BadFrame,
                    }),
                    None => {}
                }
            }
        }
    }
}

/// The CM7's side of one request to the CM4; the mailbox's vehicle-state, the CM4's cycles,
/// and the MU latency in ns, or None when no valid answer came within `limit` GPT2 ticks.
fn ask_m4(cmd: u32, seq: u32, words: &[u32], limit: u32) -> Option<([f32; STATE_WORDS], u32, u32)> {
    write(request::BASE, 0);
    write(request::CMD, cmd);
    write(request::SEQ, seq);
    write_u32s(request::WORDS, words);
    cortex_m::asm::dmb();
    write(request::BASE, request::READY);
    cortex_m::asm::dsb();
    while read(MUA + MU_SR) & mu_te(1) == 0 {}
    write(MUA + MU_TR + 4, seq); // TR1: the CM4's doorbell
    let t0 = hil_common::timebase();
    loop {
        cortex_m::interrupt::disable();
        let got = FLAGS.take(NAV) != 0;
        let late = hil_common::timebase().wrapping_sub(t0) > limit;
        if !got && !late {
            cortex_m::asm::wfi();
        }
        // SAFETY: re-enabling what was disabled above.
        unsafe { cortex_m::interrupt::enable() };
        if got && NAV_SEQ.load(Relaxed) == seq {
            break;
        }
        if late {
            return None;
        }
    }
    if read(nav::BASE) != nav::READY || read(nav::SEQ) != seq {
        return None;
    }
    let latency_ticks = NAV_STAMP.load(Relaxed).wrapping_sub(read(nav::STAMP));
    let latency_ns = (u64::from(latency_ticks) * 1_000_000_000 / u64::from(GPT_HZ)) as u32;
    Some((read_words(nav::WORDS), read(nav::M4_CYCLES), latency_ns))
}

/// falcon-cascade's stages on a vehicle-state, every tick: position -> attitude -> rate ->
/// mixer. The motor commands, the attitude (5) and rate (4) setpoints, and the DWT cycles of
/// the calls.
fn stages(
    inst: &Instance,
    state: &[f32; STATE_WORDS],
    waypoint: &[f32; 4],
) -> ([f32; 4], [f32; 9], u32) {
    let mut m7_cycles = 0;
    let att: [f32; 5] = inst.get(spilled(
        inst,
        position_tick,
        state,
        waypoint,
        &mut m7_cycles,
    ));
    let rate: [f32; 4] = inst.get(spilled(inst, attitude_tick, state, &att, &mut m7_cycles));
    let torque: [f32; 4] = inst.get(spilled(inst, rate_tick, state, &rate, &mut m7_cycles));
    let c0 = hil_common::cycles();
    let out = inst.call_f32(mixer_mix, &torque);
    m7_cycles += hil_common::cycles().wrapping_sub(c0);
    let motors: [f32; 4] = inst.get(out);
    let mut setpoints = [0.0f32; 9];
    setpoints[..5].copy_from_slice(&att);
    setpoints[5..].copy_from_slice(&rate);
    (motors, setpoints, m7_cycles)
}

/// Sleep with interrupts off: what a missing device leaves (the host sees the link fall silent
/// after the event that says why).
#[cfg(feature = "devices")]
fn park() -> ! {
    cortex_m::interrupt::disable();
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    hil_common::fpu_default_nan();
    hil_common::cycles_enable();
    let channels = rtt_init! {
        up: { 0: { size: 1024, mode: ChannelMode::BlockIfFull, name: "hil-up" } }
        down: { 0: { size: 512, name: "hil-down" } }
    };
    let mut link = Link {
        up: channels.up.0,
        down: channels.down.0,
        decoder: Decoder::default(),
    };
    let inst = hil_common::flight_instance!();
    hil_common::timebase_start();
    write(MUA + MU_CR, mu_rf(0)); // CR.RIE0
    hil_common::nvic_enable(MU_IRQ);
    hil_common::nvic_enable(GPT1_IRQ);
    pace(DEFAULT_PERIOD_US);
    boot_m4();
    let mut waited = 0;
    while read(m4_status::BASE) != m4_status::READY && waited < BOOT_TICKS {
        FLAGS.wait(TICK);
        waited += 1;
    }
    let m4_up = read(m4_status::BASE) == m4_status::READY;
    link.send(&Up::Hello {
        version: hil_proto::VERSION,
        cores: if m4_up { 2 } else { 1 },
        flight_crc: FLIGHT_CRC,
        devices: cfg!(feature = "devices"),
    });
    #[cfg(not(feature = "devices"))]
    hil_loop(link, inst);
    #[cfg(feature = "devices")]
    devices_loop(link, inst);
}

/// How long the CM7 waits for the CM4's answer: two periods of GPT2 ticks.
fn m4_limit(period_us: u32) -> u32 {
    2 * period_us * (GPT_HZ / 1_000_000)
}

/// Tick `tick`'s estimate on the CM4 from sensor frame `f`: the vehicle-state, the CM4's
/// cycles and the MU latency, or None (and an `Overrun { core: 4 }` event) when the CM4 did
/// not answer in time.
fn estimate(
    link: &mut Link,
    seq: &mut u32,
    tick: u32,
    f: &[u32],
    period_us: u32,
) -> Option<([f32; STATE_WORDS], u32, u32)> {
    *seq = seq.wrapping_add(1);
    let r = ask_m4(request::ESTIMATE, *seq, f, m4_limit(period_us));
    if r.is_none() {
        link.send(&Up::Event {
            tick,
            code: Event::Overrun { core: 4 },
        });
    }
    r
}

/// `Down::Start`: initialise the estimator (a request to the CM4) and pace at the new period;
/// whether the CM4 answered (an `Overrun { core: 4 }` event when not).
fn start_run(link: &mut Link, seq: &mut u32, period_us: u32, state0: &[f32; STATE_WORDS]) -> bool {
    *seq = seq.wrapping_add(1);
    let ok = ask_m4(
        request::INIT,
        *seq,
        &state0.map(f32::to_bits),
        m4_limit(period_us),
    )
    .is_some();
    if !ok {
        link.send(&Up::Event {
            tick: 0,
            code: Event::Overrun { core: 4 },
        });
    }
    pace(period_us);
    ok
}

/// The HIL build: one tick per GPT period with the sensor frame from the link.
#[cfg(not(feature = "devices"))]
fn hil_loop(mut link: Link, inst: Instance) -> ! {
    let mut period_us = DEFAULT_PERIOD_US;
    let mut running = false;
    let mut frame: Option<(u32, [u32; hil_proto::SENSOR_WORDS], [f32; 4])> = None;
    let mut start: Option<[f32; STATE_WORDS]> = None;
    let mut stop = false;
    let mut idle = 0u32;
    let mut seq = 0u32;
    let mut last_tick = 0u32;
    loop {
        FLAGS.wait(TICK);
        link.receive(last_tick, |_, m| match m {
            Down::Start {
                period_us: p,
                state0,
            } => {
                period_us = p;
                start = Some(state0);
            }
            Down::Sensor {
                tick,
                frame: f,
                waypoint,
            } => frame = Some((tick, f, waypoint)),
            Down::Setpoint { .. } => {}
            Down::Stop => stop = true,
        });
        if stop {
            stop = false;
            running = false;
            frame = None;
            link.send(&Up::Event {
                tick: last_tick,
                code: Event::Stopped,
            });
        }
        if let Some(state0) = start.take() {
            running = start_run(&mut link, &mut seq, period_us, &state0);
            idle = 0;
        }
        if !running {
            continue;
        }
        let Some((tick, f, waypoint)) = frame.take() else {
            idle += 1;
            if idle == STALL_TICKS {
                link.send(&Up::Event {
                    tick: last_tick,
                    code: Event::LinkStalled,
                });
            }
            continue;
        };
        idle = 0;
        last_tick = tick;
        let Some((state, m4_cycles, mu_latency_ns)) =
            estimate(&mut link, &mut seq, tick, &f, period_us)
        else {
            continue;
        };
        let (motors, setpoints, m7_cycles) = stages(&inst, &state, &waypoint);
        link.send(&Up::Tick {
            tick,
            state,
            motors,
            setpoints,
            m4_cycles,
            m7_cycles,
            mu_latency_ns,
        });
        if FLAGS.take(TICK) != 0 {
            // The next period began before this tick's work was done.
            link.send(&Up::Event {
                tick,
                code: Event::Overrun { core: 7 },
            });
        }
    }
}

/// The full-system build: one tick per IMU data-ready, the frame from the drivers, the motors
/// to the IO MCU. GPT1 keeps pacing the link between ticks (Start and Stop arrive before the
/// first sample and after the last).
#[cfg(feature = "devices")]
fn devices_loop(mut link: Link, inst: Instance) -> ! {
    use hil_proto::devices::Device;
    let fail = |link: &mut Link, d: Device| -> ! {
        link.send(&Up::Event {
            tick: 0,
            code: Event::Device { device: d as u8 },
        });
        park()
    };
    let (baro, mag) = match drivers::init() {
        Ok(x) => x,
        Err(d) => fail(&mut link, d),
    };
    if !drivers::imu_init() {
        fail(&mut link, Device::Imu);
    }
    hil_common::nvic_enable(drivers::DRDY_IRQ);
    let mut ubx = drivers::Ubx::new();
    let mut period_us = DEFAULT_PERIOD_US;
    let mut running = false;
    let mut start: Option<[f32; STATE_WORDS]> = None;
    let mut stop = false;
    let mut seq = 0u32;
    let mut tick = 0u32;
    let mut waypoint = [0.0f32; 4];
    loop {
        let got = FLAGS.wait(TICK | DRDY);
        link.receive(tick, |_, m| match m {
            Down::Start {
                period_us: p,
                state0,
            } => {
                period_us = p;
                start = Some(state0);
            }
            Down::Setpoint {
                tick: k,
                waypoint: w,
            } => {
                tick = k;
                waypoint = w;
            }
            Down::Sensor { .. } => {}
            Down::Stop => stop = true,
        });
        if stop {
            stop = false;
            running = false;
            drivers::io_disarm();
            link.send(&Up::Event {
                tick,
                code: Event::Stopped,
            });
        }
        if let Some(state0) = start.take() {
            running = start_run(&mut link, &mut seq, period_us, &state0);
            if running && !drivers::io_arm() {
                fail(&mut link, Device::Io);
            }
        }
        if got & DRDY == 0 || !running {
            continue;
        }
        // The sensors, in the order the parts deliver: the IMU that started the tick, then
        // what the I2C parts and the GNSS receiver have new.
        let c0 = hil_common::cycles();
        let imu = drivers::imu_read_sample();
        let baro_alt = baro.poll();
        let mag_b = mag.poll();
        let gnss = ubx.poll();
        let dt = period_us as f32 / 1e6;
        let f = hil_proto::aiding_frame(imu, dt, gnss, baro_alt, mag_b);
        let mut driver_cycles = hil_common::cycles().wrapping_sub(c0);
        let Some((state, m4_cycles, mu_latency_ns)) =
            estimate(&mut link, &mut seq, tick, &f, period_us)
        else {
            continue;
        };
        let (motors, setpoints, m7_cycles) = stages(&inst, &state, &waypoint);
        let c0 = hil_common::cycles();
        if !drivers::io_motors(&motors) {
            link.send(&Up::Event {
                tick,
                code: Event::Device {
                    device: Device::Io as u8,
                },
            });
        }
        driver_cycles += hil_common::cycles().wrapping_sub(c0);
        link.send(&Up::Tick {
            tick,
            state,
            motors,
            setpoints,
            m4_cycles,
            m7_cycles,
            mu_latency_ns,
        });
        link.send(&Up::Load {
            tick,
            driver_cycles,
            irq_cycles: IRQ_CYCLES.swap(0, Relaxed),
            irqs: IRQS.swap(0, Relaxed),
        });
        tick = tick.wrapping_add(1);
    }
}
