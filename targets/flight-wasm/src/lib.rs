//! falcon-shaped exports of rt-twin's reference flight stack (pulseengine:falcon-cascade).
//!
//! Canonical-ABI shapes: a record larger than 16 flat scalars is passed as a pointer into linear
//! memory; results come back in a return area whose pointer is returned. The host obtains guest
//! memory for arguments through `cabi_realloc` (a bump arena here: no allocator).
//!
//! | export | shape |
//! |---|---|
//! | `pulseengine:falcon-cascade/controller@0.10.0#configure` | (ptr to 19 x f32 vehicle-config) |
//! | `pulseengine:falcon-cascade/controller@0.10.0#step` | (ptr to 24 x f32: NavState 16, gyro 3, waypoint 5) -> ptr to 4 x f32 motor commands |
//! | `pulseengine:falcon-cascade/mixer@0.10.0#mix` | (collective, tx, ty, tz: f32) -> ptr to 4 x f32 |
//! | `pulseengine:falcon-cascade/ekf@0.10.0#init` | (ptr to NavState, 16 x f32) |
//! | `pulseengine:falcon-cascade/ekf@0.10.0#estimate` | (ptr to a 22 x f32 sensor frame: accel 3, gyro 3, dt, gnss-valid, position 3, velocity 3, baro-valid, altitude, mag-valid, mag 3, reserved 2) -> ptr to NavState |
//! | `cabi_realloc` | (old, old_size, align, new_size) -> ptr |
#![no_std]

use flight::controller::{mix, Controller, VehicleConfig};
use flight::estimator::{Estimator, EstimatorConfig};
use flight::records;
use flight::NavState;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

static mut CONTROLLER: Controller = Controller::new(VehicleConfig::quad_x_default());
static mut RETURN_AREA: [f32; 4] = [0.0; 4];
static mut ESTIMATOR: Estimator = Estimator::new(EstimatorConfig::default_sensors());
static mut NAV_AREA: [f32; 16] = [0.0; 16];
static mut ARENA: [u8; 4096] = [0; 4096];
static mut ARENA_TOP: usize = 0;

/// Bump allocation in a fixed arena (never freed; the host asks once per buffer).
#[no_mangle]
pub extern "C" fn cabi_realloc(_old: i32, _old_size: i32, align: i32, new_size: i32) -> i32 {
    unsafe {
        let base = core::ptr::addr_of_mut!(ARENA) as usize;
        let align = align.max(1) as usize;
        let at = (base + ARENA_TOP).next_multiple_of(align) - base;
        let end = at + new_size as usize;
        if end > 4096 {
            core::arch::wasm32::unreachable()
        }
        ARENA_TOP = end;
        (base + at) as i32
    }
}

fn read<const N: usize>(ptr: i32) -> [f32; N] {
    let mut out = [0.0; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = unsafe { core::ptr::read_unaligned((ptr as usize as *const f32).add(i)) };
    }
    out
}

fn ret(u: [f32; 4]) -> i32 {
    unsafe {
        RETURN_AREA = u;
        core::ptr::addr_of!(RETURN_AREA) as i32
    }
}

#[export_name = "pulseengine:falcon-cascade/controller@0.10.0#configure"]
pub extern "C" fn configure(cfg: i32) {
    let c = records::vehicle_config(&read(cfg));
    unsafe { (*core::ptr::addr_of_mut!(CONTROLLER)).configure(c) }
}

#[export_name = "pulseengine:falcon-cascade/controller@0.10.0#step"]
pub extern "C" fn step(input: i32) -> i32 {
    ret(records::step(
        unsafe { &mut *core::ptr::addr_of_mut!(CONTROLLER) },
        &read(input),
    ))
}

#[export_name = "pulseengine:falcon-cascade/mixer@0.10.0#mix"]
pub extern "C" fn mixer(collective: f32, tx: f32, ty: f32, tz: f32) -> i32 {
    ret(mix(
        &VehicleConfig::quad_x_default(),
        collective,
        [tx, ty, tz],
    ))
}

#[export_name = "pulseengine:falcon-cascade/ekf@0.10.0#init"]
pub extern "C" fn ekf_init(nav: i32) {
    let w: [f32; 16] = read(nav);
    unsafe { (*core::ptr::addr_of_mut!(ESTIMATOR)).init(&NavState::from_words(&w)) }
}

#[export_name = "pulseengine:falcon-cascade/ekf@0.10.0#estimate"]
pub extern "C" fn ekf_estimate(frame: i32) -> i32 {
    let nav = records::estimate(
        unsafe { &mut *core::ptr::addr_of_mut!(ESTIMATOR) },
        &read(frame),
    );
    unsafe {
        NAV_AREA = nav;
        core::ptr::addr_of!(NAV_AREA) as i32
    }
}
