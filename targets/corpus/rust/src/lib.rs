//! Flight-code-shaped functions in Rust for the differential corpus: checksums over linear
//! memory, fixed-point and f32 filters, quaternion arithmetic. `no_std`, no allocation, f64-free.
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

static mut BUF: [u8; 1024] = [0; 1024];
static mut STATE: [f32; 4] = [0.0; 4];

/// CRC-32 (IEEE, reflected) of the first `len & 1023` bytes of BUF after filling it from `seed`.
#[no_mangle]
pub extern "C" fn crc32_buf(seed: u32, len: u32) -> u32 {
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    let mut x = seed;
    for b in buf.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    let mut crc = !0u32;
    for &b in &buf[..(len & 1023) as usize] {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A Q16.16 first-order low-pass step: y += (x - y) * alpha.
#[no_mangle]
pub extern "C" fn lowpass_q16(y: i32, x: i32, alpha: i32) -> i32 {
    let e = i64::from(x) - i64::from(y);
    y.wrapping_add(((e * i64::from(alpha)) >> 16) as i32)
}

/// Normalise a quaternion kept in STATE (set from the arguments) and return its new w.
#[no_mangle]
pub extern "C" fn quat_normalize(w: f32, x: f32, y: f32, z: f32) -> f32 {
    let n = libm::sqrtf(w * w + x * x + y * y + z * z);
    let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
    unsafe {
        STATE = [w * inv, x * inv, y * inv, z * inv];
        STATE[0]
    }
}

/// Hamilton product of STATE with (w, x, y, z), stored back; returns the new x.
#[no_mangle]
pub extern "C" fn quat_mul(w: f32, x: f32, y: f32, z: f32) -> f32 {
    unsafe {
        let [a, b, c, d] = STATE;
        STATE = [
            a * w - b * x - c * y - d * z,
            a * x + b * w + c * z - d * y,
            a * y - b * z + c * w + d * x,
            a * z + b * y - c * x + d * w,
        ];
        STATE[1]
    }
}

/// An IIR biquad over 32 samples generated from `seed`; returns the output energy.
#[no_mangle]
pub extern "C" fn biquad_energy(seed: u32, b0: f32, a1: f32) -> f32 {
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let mut s = seed;
    let mut energy = 0.0f32;
    for _ in 0..32 {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let x = (s & 0xFFFF) as f32 / 65536.0 - 0.5;
        let y = b0 * x + 0.5 * x1 + 0.25 * x2 - a1 * y1 - 0.125 * y2;
        x2 = x1;
        x1 = x;
        y2 = y1;
        y1 = y;
        energy += y * y;
    }
    energy
}

/// Saturating PWM mapping: thrust in [0, 1] to 1000..2000 us, clamped.
#[no_mangle]
pub extern "C" fn thrust_to_pwm(thrust: f32) -> i32 {
    let t = if thrust.is_nan() { 0.0 } else { thrust };
    let us = 1000.0 + 1000.0 * t;
    let us = if us < 1000.0 {
        1000.0
    } else if us > 2000.0 {
        2000.0
    } else {
        us
    };
    us as i32
}

/// Integer square root by Newton iteration.
#[no_mangle]
pub extern "C" fn isqrt(n: u32) -> u32 {
    if n < 2 {
        return n;
    }
    let mut x = n;
    let mut y = (x + 1) / 2;
    while y < x {
        x = y;
        y = (x + n / x) / 2;
    }
    x
}
