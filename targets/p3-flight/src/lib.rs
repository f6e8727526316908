//! The flight stack as three P3 callback-mode components in one module (each instance runs one
//! task): `sensor` streams sensor frames, `estimator` turns each into a NavState (the EKF of
//! `flight`), `controller` turns each NavState into motor commands. State lives in statics
//! (linear memory) between callbacks, never on the stack.
//!
//! | export | task |
//! |---|---|
//! | `[async-lift]sensor(out, ticks)` | writes `ticks` frames of 22 x f32 ([`frame`]), then drops `out`; returns ticks |
//! | `[async-lift]estimator(in, out)` | per frame read, one NavState (16 x f32) written; at end of input drops both; returns the count |
//! | `[async-lift]controller(in)` | per NavState, one `controller#step` (zero body rates, the hover [`WAYPOINT`]); at end returns 24 bytes: count, an xor of every motor command's bits, the last 4 commands |
//! | `frame_at(k) -> ptr` | frame k ([`frame`]), for a reference run without streams |
//!
//! Each task handles short reads and writes (a partial record is resumed after the next event).
#![no_std]

use flight::controller::{Controller, VehicleConfig};
use flight::estimator::{Estimator, EstimatorConfig};
use flight::records::{self, NAV_WORDS, SENSOR_FRAME_WORDS, STEP_INPUT_WORDS};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "pulseengine:async")]
extern "C" {
    fn stream_read(h: i32, ptr: i32, len: i32, mem: i32) -> i32;
    fn stream_write(h: i32, ptr: i32, len: i32, mem: i32) -> i32;
    fn stream_drop_readable(h: i32);
    fn stream_drop_writable(h: i32);
    fn waitable_set_new() -> i32;
    fn waitable_join(w: i32, set: i32);
}

#[link(wasm_import_module = "$root")]
extern "C" {
    #[link_name = "[task-return]sensor"]
    fn return_sensor(n: i32);
    #[link_name = "[task-return]estimator"]
    fn return_estimator(n: i32);
    #[link_name = "[task-return]controller"]
    fn return_controller(ptr: i32, len: i32);
}

const EXIT: i32 = 0;
const PENDING: i32 = -5;
const FRAME_BYTES: usize = SENSOR_FRAME_WORDS * 4;
const NAV_BYTES: usize = NAV_WORDS * 4;

/// Where the controller holds station: 1 m up (NED), yaw 0 (cos, sin of half the yaw).
pub const WAYPOINT: [f32; 5] = [0.0, 0.0, -1.0, 1.0, 0.0];

/// Sensor frame k of a vehicle sitting level at 1 m: gravity on the accelerometer with small
/// deterministic ripples on every axis, 2 ms steps, GNSS every 50th frame, baro every 10th.
/// Layout: accel 3, gyro 3, dt, gnss-valid, position 3, velocity 3, baro-valid, altitude,
/// mag-valid, mag 3, reserved 2.
pub fn frame(k: u32) -> [f32; SENSOR_FRAME_WORDS] {
    let r = |m: u32, s: f32| (k % m) as f32 * s - (m / 2) as f32 * s;
    let mut f = [0.0; SENSOR_FRAME_WORDS];
    f[0] = r(7, 0.01);
    f[1] = r(5, -0.01);
    f[2] = -9.80665 + r(3, 0.02);
    f[3] = r(3, 0.001);
    f[4] = r(4, -0.001);
    f[5] = r(5, 0.0005);
    f[6] = 0.002;
    if k.is_multiple_of(50) {
        f[7] = 1.0;
        f[8..11].copy_from_slice(&[r(3, 0.05), r(5, 0.05), -1.0]);
    }
    if k.is_multiple_of(10) {
        f[14] = 1.0;
        f[15] = 1.0 + r(4, 0.02);
    }
    f
}

/// Bytes of a record as seen by the stream intrinsics.
fn addr<T>(p: *const T) -> i32 {
    p as usize as i32
}

static mut FRAME_OUT: [f32; SENSOR_FRAME_WORDS] = [0.0; SENSOR_FRAME_WORDS];

#[no_mangle]
pub extern "C" fn frame_at(k: i32) -> i32 {
    unsafe {
        FRAME_OUT = frame(k as u32);
        addr(core::ptr::addr_of!(FRAME_OUT))
    }
}

/// WAIT on a waitable set: code 2, payload = set.
fn wait(set: i32) -> i32 {
    2 | (set << 4)
}

// ---- sensor ----

struct Sensor {
    out: i32,
    ticks: u32,
    k: u32,
    off: usize,
    set: i32,
    buf: [f32; SENSOR_FRAME_WORDS],
}

static mut SENSOR: Sensor = Sensor {
    out: 0,
    ticks: 0,
    k: 0,
    off: 0,
    set: 0,
    buf: [0.0; SENSOR_FRAME_WORDS],
};

fn sensor_pump(s: &mut Sensor) -> i32 {
    loop {
        if s.k == s.ticks {
            unsafe {
                stream_drop_writable(s.out);
                return_sensor(s.ticks as i32);
            }
            return EXIT;
        }
        if s.off == 0 {
            s.buf = frame(s.k);
        }
        let p = addr(s.buf.as_ptr()) + s.off as i32;
        let n = unsafe { stream_write(s.out, p, (FRAME_BYTES - s.off) as i32, 0) };
        if n < 0 {
            core::arch::wasm32::unreachable()
        }
        s.off += n as usize;
        if s.off < FRAME_BYTES {
            return wait(s.set);
        }
        s.off = 0;
        s.k += 1;
    }
}

#[export_name = "[async-lift]sensor"]
pub extern "C" fn sensor(out: i32, ticks: i32) -> i32 {
    let s = unsafe { &mut *core::ptr::addr_of_mut!(SENSOR) };
    s.out = out;
    s.ticks = ticks as u32;
    s.set = unsafe { waitable_set_new() };
    unsafe { waitable_join(out, s.set) };
    sensor_pump(s)
}

#[export_name = "[callback][async-lift]sensor"]
pub extern "C" fn sensor_callback(_event: i32, _p1: i32, _p2: i32) -> i32 {
    sensor_pump(unsafe { &mut *core::ptr::addr_of_mut!(SENSOR) })
}

// ---- estimator ----

struct Est {
    inp: i32,
    out: i32,
    set: i32,
    writing: bool,
    in_off: usize,
    out_off: usize,
    count: u32,
    frame: [f32; SENSOR_FRAME_WORDS],
    nav: [f32; NAV_WORDS],
    ekf: Estimator,
}

static mut EST: Est = Est {
    inp: 0,
    out: 0,
    set: 0,
    writing: false,
    in_off: 0,
    out_off: 0,
    count: 0,
    frame: [0.0; SENSOR_FRAME_WORDS],
    nav: [0.0; NAV_WORDS],
    ekf: Estimator::new(EstimatorConfig::default_sensors()),
};

fn estimator_pump(e: &mut Est) -> i32 {
    loop {
        if e.writing {
            let p = addr(e.nav.as_ptr()) + e.out_off as i32;
            let n = unsafe { stream_write(e.out, p, (NAV_BYTES - e.out_off) as i32, 0) };
            if n < 0 {
                core::arch::wasm32::unreachable()
            }
            e.out_off += n as usize;
            if e.out_off < NAV_BYTES {
                return wait(e.set);
            }
            e.count += 1;
            e.writing = false;
            e.in_off = 0;
        } else {
            let p = addr(e.frame.as_ptr()) + e.in_off as i32;
            let n = unsafe { stream_read(e.inp, p, (FRAME_BYTES - e.in_off) as i32, 0) };
            if n == PENDING {
                return wait(e.set);
            }
            if n == 0 {
                unsafe {
                    waitable_join(e.inp, 0);
                    waitable_join(e.out, 0);
                    stream_drop_readable(e.inp);
                    stream_drop_writable(e.out);
                    return_estimator(e.count as i32);
                }
                return EXIT;
            }
            if n < 0 {
                core::arch::wasm32::unreachable()
            }
            e.in_off += n as usize;
            if e.in_off == FRAME_BYTES {
                e.nav = records::estimate(&mut e.ekf, &e.frame);
                e.writing = true;
                e.out_off = 0;
            }
        }
    }
}

#[export_name = "[async-lift]estimator"]
pub extern "C" fn estimator(inp: i32, out: i32) -> i32 {
    let e = unsafe { &mut *core::ptr::addr_of_mut!(EST) };
    e.inp = inp;
    e.out = out;
    e.set = unsafe { waitable_set_new() };
    unsafe {
        waitable_join(inp, e.set);
        waitable_join(out, e.set);
    }
    estimator_pump(e)
}

#[export_name = "[callback][async-lift]estimator"]
pub extern "C" fn estimator_callback(_event: i32, _p1: i32, _p2: i32) -> i32 {
    estimator_pump(unsafe { &mut *core::ptr::addr_of_mut!(EST) })
}

// ---- controller ----

struct Ctl {
    inp: i32,
    set: i32,
    off: usize,
    nav: [f32; NAV_WORDS],
    /// count, xor of every motor command's bits, last 4 commands (as bits).
    result: [u32; 6],
    ctl: Controller,
}

static mut CTL: Ctl = Ctl {
    inp: 0,
    set: 0,
    off: 0,
    nav: [0.0; NAV_WORDS],
    result: [0; 6],
    ctl: Controller::new(VehicleConfig::quad_x_default()),
};

fn controller_pump(c: &mut Ctl) -> i32 {
    loop {
        let p = addr(c.nav.as_ptr()) + c.off as i32;
        let n = unsafe { stream_read(c.inp, p, (NAV_BYTES - c.off) as i32, 0) };
        if n == PENDING {
            return wait(c.set);
        }
        if n == 0 {
            unsafe {
                waitable_join(c.inp, 0);
                stream_drop_readable(c.inp);
                return_controller(addr(c.result.as_ptr()), 24);
            }
            return EXIT;
        }
        if n < 0 {
            core::arch::wasm32::unreachable()
        }
        c.off += n as usize;
        if c.off == NAV_BYTES {
            c.off = 0;
            let mut input = [0.0; STEP_INPUT_WORDS];
            input[..NAV_WORDS].copy_from_slice(&c.nav);
            input[NAV_WORDS + 3..].copy_from_slice(&WAYPOINT);
            let m = records::step(&mut c.ctl, &input);
            c.result[0] += 1;
            for (i, v) in m.iter().enumerate() {
                c.result[1] ^= v.to_bits().rotate_left(i as u32 * 8);
                c.result[2 + i] = v.to_bits();
            }
        }
    }
}

#[export_name = "[async-lift]controller"]
pub extern "C" fn controller(inp: i32) -> i32 {
    let c = unsafe { &mut *core::ptr::addr_of_mut!(CTL) };
    c.inp = inp;
    c.set = unsafe { waitable_set_new() };
    unsafe { waitable_join(inp, c.set) };
    controller_pump(c)
}

#[export_name = "[callback][async-lift]controller"]
pub extern "C" fn controller_callback(_event: i32, _p1: i32, _p2: i32) -> i32 {
    controller_pump(unsafe { &mut *core::ptr::addr_of_mut!(CTL) })
}
