//! Corpus functions behind a WIT contract (wit/corpus.wit). Every output depends on every
//! input field, in a field-specific way, so a misplaced or mistyped field shows.
#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

wit_bindgen::generate!({ path: "wit", world: "corpus" });

use exports::rt_twin::corpus::shapes::{Cmd, Guest, Mixed, Mode, Opts, Point, State};

#[global_allocator]
static ALLOC: bump::Bump<65536> = bump::Bump::new();

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

struct Corpus;

impl Guest for Corpus {
    fn estimate(ax: f32, ay: f32, az: f32, gx: f32, gy: f32, gz: f32) -> State {
        State {
            qw: 1.0 - gx * gx,
            qx: gx * 0.5,
            qy: gy * 0.5,
            qz: gz * 0.5,
            pos_n: ax * 2.0,
            pos_e: ay * 3.0,
            pos_d: az * 4.0,
            vel_n: ax - ay,
            vel_e: ay - az,
            vel_d: az - ax,
            wx: gx,
            wy: gy,
            wz: gz,
            innovation: ax + ay + az + gx + gy + gz,
        }
    }

    fn tick(s: State, target: Point, yaw: f32) -> Point {
        Point {
            x: (target.x - s.pos_n) * 0.5 - s.vel_n + s.qw * yaw,
            y: (target.y - s.pos_e) * 0.25 - s.vel_e + s.qx + s.wx,
            z: (target.z - s.pos_d) * 0.125 - s.vel_d + s.qy + s.qz + s.wy + s.wz + s.innovation,
        }
    }

    fn mix(m: Mixed, c: Cmd, o: Opts) -> Option<f64> {
        if !m.f {
            return None;
        }
        let c = match c {
            Cmd::Stop => 0.0,
            Cmd::Go(p) => f64::from(p.x) + 2.0 * f64::from(p.y) + 3.0 * f64::from(p.z),
            Cmd::Turn(a) => f64::from(a) * 10.0,
            Cmd::Jump(n) => n as f64,
        };
        Some(
            f64::from(m.a) + f64::from(m.b) * 3.0 + f64::from(m.c) * 5.0 + m.d + f64::from(m.e)
                - c
                + f64::from(o.bits()),
        )
    }

    fn pick(p: Option<Point>, m: Mode) -> Result<Point, Mode> {
        match (p, m) {
            (Some(p), Mode::Hover) => Ok(Point { x: p.z, y: p.x, z: p.y }),
            (Some(p), Mode::Land) => Ok(Point { x: p.x, y: p.y, z: 0.0 }),
            (None, Mode::Idle) => Err(Mode::Land),
            _ => Err(m),
        }
    }

    fn sum(xs: Vec<f32>) -> (f32, u32) {
        let mut s = 0.0;
        for (i, x) in xs.iter().enumerate() {
            s += x * (i as f32 + 1.0);
        }
        (s, xs.len() as u32)
    }

    fn reverse(xs: Vec<i32>) -> Vec<i32> {
        xs.iter().rev().map(|x| x.wrapping_mul(3)).collect()
    }

    fn greet(name: String, times: u8) -> String {
        let mut s = String::from("hi ");
        for _ in 0..times % 4 {
            s.push_str(&name);
        }
        s
    }

    fn sign(x: i64, y: i16, c: char) -> (i64, char, bool) {
        let next = char::from_u32(u32::from(c) + 1).unwrap_or('?');
        (x.wrapping_mul(i64::from(y)), next, x < 0)
    }

    fn product(x: f32, y: f32) -> f32 {
        x * y
    }

    fn mode_of(c: Cmd) -> Mode {
        match c {
            Cmd::Stop => Mode::Idle,
            Cmd::Go(_) => Mode::Hover,
            Cmd::Turn(_) | Cmd::Jump(_) => Mode::Land,
        }
    }

    fn opts_of(m: Mode) -> Opts {
        match m {
            Mode::Idle => Opts::empty(),
            Mode::Hover => Opts::ARMED | Opts::GPS,
            Mode::Land => Opts::ARMED | Opts::BARO,
        }
    }
}

export!(Corpus);
