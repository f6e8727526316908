//! rt-twin's reference flight stack with falcon-cascade's exports (`wit/stack`): the
//! `flight` crate's estimator and cascade stages behind `pulseengine:falcon-cascade@0.10.0`'s
//! `ekf`, `position`, `attitude`, `rate` and `mixer` interfaces, plus the project's
//! `rt-twin:stack/aided-ekf` (the estimator with its aiding sensors). Each interface keeps
//! its state in its own static, as each of falcon's leaves does in its own instance, so the
//! stack built as one module behaves as the leaves built one by one.
#![no_std]

extern crate alloc;

#[cfg(feature = "stack")]
wit_bindgen::generate!({ path: "../../wit/stack", world: "stack", generate_all });
#[cfg(all(feature = "ekf-leaf", not(feature = "stack")))]
wit_bindgen::generate!({ path: "../../wit/stack", world: "ekf-leaf", generate_all });
#[cfg(all(feature = "position-leaf", not(feature = "stack")))]
wit_bindgen::generate!({ path: "../../wit/stack", world: "position-leaf", generate_all });
#[cfg(all(feature = "attitude-leaf", not(feature = "stack")))]
wit_bindgen::generate!({ path: "../../wit/stack", world: "attitude-leaf", generate_all });
#[cfg(all(feature = "rate-leaf", not(feature = "stack")))]
wit_bindgen::generate!({ path: "../../wit/stack", world: "rate-leaf", generate_all });
#[cfg(all(feature = "mixer-leaf", not(feature = "stack")))]
wit_bindgen::generate!({ path: "../../wit/stack", world: "mixer-leaf", generate_all });
// falcon's own ekf world: `ekf#estimate(imu)` alone, no aided-ekf (what a falcon ekf leaf
// offers the host).
#[cfg(all(feature = "falcon-ekf-leaf", not(feature = "stack")))]
wit_bindgen::generate!({
    path: "../../wit/stack",
    world: "pulseengine:falcon-cascade/ekf-component",
    generate_all
});

use flight::cascade;
use flight::controller::VehicleConfig;
use pulseengine::falcon_cascade::types as t;

#[global_allocator]
static ALLOC: bump::Bump<1024> = bump::Bump::new();

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

const CFG: VehicleConfig = VehicleConfig::quad_x_default();

/// One interface's state: a static the guest's single thread owns.
struct Cell<T>(core::cell::UnsafeCell<T>);

// wasm32 guests are single-threaded and exports do not re-enter.
unsafe impl<T> Sync for Cell<T> {}

impl<T> Cell<T> {
    const fn new(v: T) -> Cell<T> {
        Cell(core::cell::UnsafeCell::new(v))
    }

    #[allow(clippy::mut_from_ref)]
    fn get(&self) -> &mut T {
        // SAFETY: one thread, no re-entry: at most one reference is live at a time.
        unsafe { &mut *self.0.get() }
    }
}

#[allow(dead_code)]
fn state_in(s: &t::VehicleState) -> cascade::VehicleState {
    cascade::VehicleState {
        q: [s.qw, s.qx, s.qy, s.qz],
        p: [s.pos_n, s.pos_e, s.pos_d],
        v: [s.vel_n, s.vel_e, s.vel_d],
        w: [s.wx, s.wy, s.wz],
        innovation: s.innovation,
    }
}

#[allow(dead_code)]
fn state_out(s: &cascade::VehicleState) -> t::VehicleState {
    t::VehicleState {
        qw: s.q[0],
        qx: s.q[1],
        qy: s.q[2],
        qz: s.q[3],
        pos_n: s.p[0],
        pos_e: s.p[1],
        pos_d: s.p[2],
        vel_n: s.v[0],
        vel_e: s.v[1],
        vel_d: s.v[2],
        wx: s.w[0],
        wy: s.w[1],
        wz: s.w[2],
        innovation: s.innovation,
    }
}

struct Stack;

#[cfg(any(feature = "stack", feature = "ekf-leaf", feature = "falcon-ekf-leaf"))]
mod ekf {
    use super::*;
    use exports::pulseengine::falcon_cascade::ekf;
    use flight::estimator::{Estimator, EstimatorConfig};

    pub(crate) static EKF: Cell<Estimator> =
        Cell::new(Estimator::new(EstimatorConfig::default_sensors()));

    impl ekf::Guest for Stack {
        /// The IMU alone, over the stack's loop period.
        fn estimate(imu: t::ImuSample) -> t::VehicleState {
            let e = EKF.get();
            e.predict(
                [imu.ax, imu.ay, imu.az],
                [imu.gx, imu.gy, imu.gz],
                CFG.loop_dt,
            );
            state_out(&e.vehicle_state())
        }
    }
}

#[cfg(any(feature = "stack", feature = "ekf-leaf"))]
mod aided {
    use super::*;
    use ekf::EKF;
    use exports::rt_twin::stack::aided_ekf;

    impl aided_ekf::Guest for Stack {
        fn init(state: t::VehicleState) {
            let s = state_in(&state);
            EKF.get().init(&flight::NavState {
                q: s.q,
                p: s.p,
                v: s.v,
                bg: [0.0; 3],
                ba: [0.0; 3],
            });
        }

        fn estimate(f: aided_ekf::AidingFrame) -> t::VehicleState {
            let e = EKF.get();
            let imu = f.imu;
            e.predict([imu.ax, imu.ay, imu.az], [imu.gx, imu.gy, imu.gz], f.dt_s);
            if let (Some(p), Some(v)) = (f.position_ned, f.velocity_ned) {
                e.update_gnss([p.x, p.y, p.z], [v.x, v.y, v.z]);
            }
            if let Some(a) = f.baro_alt_m {
                e.update_baro(a);
            }
            if let Some(m) = f.mag_body {
                e.update_mag([m.x, m.y, m.z]);
            }
            state_out(&e.vehicle_state())
        }
    }
}

#[cfg(any(feature = "stack", feature = "position-leaf"))]
mod position {
    use super::*;
    use exports::pulseengine::falcon_cascade::position;

    static POSITION: Cell<cascade::Position> = Cell::new(cascade::Position::new(CFG, CFG.loop_dt));

    impl position::Guest for Stack {
        fn tick(state: t::VehicleState, target: t::Waypoint) -> t::AttitudeSetpoint {
            let wp = cascade::Waypoint {
                p: [target.north, target.east, target.down],
                yaw: target.yaw,
            };
            let sp = POSITION.get().tick(&state_in(&state), &wp);
            t::AttitudeSetpoint {
                qw: sp.q[0],
                qx: sp.q[1],
                qy: sp.q[2],
                qz: sp.q[3],
                thrust: sp.thrust,
            }
        }
    }
}

#[cfg(any(feature = "stack", feature = "attitude-leaf"))]
mod attitude {
    use super::*;
    use exports::pulseengine::falcon_cascade::attitude;

    impl attitude::Guest for Stack {
        fn tick(state: t::VehicleState, sp: t::AttitudeSetpoint) -> t::RateSetpoint {
            let sp = cascade::AttitudeSetpoint {
                q: [sp.qw, sp.qx, sp.qy, sp.qz],
                thrust: sp.thrust,
            };
            let r = cascade::attitude(&CFG, &state_in(&state), &sp);
            t::RateSetpoint {
                rx: r.w[0],
                ry: r.w[1],
                rz: r.w[2],
                thrust: r.thrust,
            }
        }
    }
}

#[cfg(any(feature = "stack", feature = "rate-leaf"))]
mod rate {
    use super::*;
    use exports::pulseengine::falcon_cascade::rate;

    static RATE: Cell<cascade::Rate> = Cell::new(cascade::Rate::new(CFG, CFG.loop_dt));

    impl rate::Guest for Stack {
        fn tick(state: t::VehicleState, sp: t::RateSetpoint) -> t::TorqueSetpoint {
            let sp = cascade::RateSetpoint {
                w: [sp.rx, sp.ry, sp.rz],
                thrust: sp.thrust,
            };
            let u = RATE.get().tick(&state_in(&state), &sp);
            t::TorqueSetpoint {
                tx: u.torque[0],
                ty: u.torque[1],
                tz: u.torque[2],
                thrust: u.thrust,
            }
        }
    }
}

#[cfg(any(feature = "stack", feature = "mixer-leaf"))]
mod mixer {
    use super::*;
    use exports::pulseengine::falcon_cascade::mixer;

    impl mixer::Guest for Stack {
        fn mix(torque: t::TorqueSetpoint) -> t::MotorPwm {
            let u = cascade::mix(
                &CFG,
                &cascade::TorqueSetpoint {
                    torque: [torque.tx, torque.ty, torque.tz],
                    thrust: torque.thrust,
                },
            );
            t::MotorPwm {
                m1: u[0],
                m2: u[1],
                m3: u[2],
                m4: u[3],
            }
        }
    }
}

export!(Stack);
