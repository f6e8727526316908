//! The ARM run-time ABI helpers (RTABI, ARM IHI 0043, section 4) that synth's objects call, which
//! an embedder would get from libgcc: served in Rust so no external toolchain is needed.
//!
//! They use the base procedure call standard whatever the float ABI (RTABI 3.1): float and
//! double arguments and results travel in core registers (float in r0, double in r0:r1,
//! long long in r0:r1 / r2:r3).
//!
//! | helper | semantics |
//! |---|---|
//! | `__aeabi_f2lz` / `__aeabi_f2ulz` | float -> (unsigned) long long, rounding toward zero |
//! | `__aeabi_d2lz` / `__aeabi_d2ulz` | double -> (unsigned) long long, rounding toward zero |
//! | `__aeabi_l2f` / `__aeabi_ul2f` | (unsigned) long long -> float, round to nearest even |
//! | `__aeabi_l2d` / `__aeabi_ul2d` | (unsigned) long long -> double, round to nearest even |
//! | `__aeabi_idiv` / `__aeabi_uidiv` | 32-bit quotient (synth checks for zero before calling; 0 if not) |
//! | `__aeabi_idivmod` / `__aeabi_uidivmod` | quotient in r0, remainder in r1 |
//! | `__aeabi_ldivmod` / `__aeabi_uldivmod` | 64-bit quotient in r0:r1, remainder in r2:r3 |
//! | `__aeabi_lmul` | 64-bit product |
//! | `__aeabi_llsl` / `__aeabi_llsr` / `__aeabi_lasr` | 64-bit shifts by r2 |
//!
//! Out-of-range float-to-integer inputs never reach these helpers in synth's code (it traps or
//! saturates first); here they saturate (Rust `as`).

use unicorn_engine::RegisterARM;

use twin_machine::core::Uc;

pub type Helper = fn(&mut Uc<'_>);

fn r(uc: &Uc<'_>, n: usize) -> u32 {
    let reg = [
        RegisterARM::R0,
        RegisterARM::R1,
        RegisterARM::R2,
        RegisterARM::R3,
    ][n];
    uc.reg_read(reg).unwrap_or(0) as u32
}

fn set(uc: &mut Uc<'_>, n: usize, v: u32) {
    let reg = [
        RegisterARM::R0,
        RegisterARM::R1,
        RegisterARM::R2,
        RegisterARM::R3,
    ][n];
    let _ = uc.reg_write(reg, u64::from(v));
}

fn get64(uc: &Uc<'_>, n: usize) -> u64 {
    u64::from(r(uc, n)) | (u64::from(r(uc, n + 1)) << 32)
}

fn set64(uc: &mut Uc<'_>, n: usize, v: u64) {
    set(uc, n, v as u32);
    set(uc, n + 1, (v >> 32) as u32);
}

pub fn lookup(name: &str) -> Option<Helper> {
    Some(match name {
        "__aeabi_f2lz" => |uc| {
            let f = f32::from_bits(r(uc, 0));
            set64(uc, 0, f as i64 as u64)
        },
        "__aeabi_f2ulz" => |uc| {
            let f = f32::from_bits(r(uc, 0));
            set64(uc, 0, f as u64)
        },
        "__aeabi_d2lz" => |uc| {
            let d = f64::from_bits(get64(uc, 0));
            set64(uc, 0, d as i64 as u64)
        },
        "__aeabi_d2ulz" => |uc| {
            let d = f64::from_bits(get64(uc, 0));
            set64(uc, 0, d as u64)
        },
        "__aeabi_l2f" => |uc| {
            let v = get64(uc, 0) as i64 as f32;
            set(uc, 0, v.to_bits())
        },
        "__aeabi_ul2f" => |uc| {
            let v = get64(uc, 0) as f32;
            set(uc, 0, v.to_bits())
        },
        "__aeabi_l2d" => |uc| {
            let v = get64(uc, 0) as i64 as f64;
            set64(uc, 0, v.to_bits())
        },
        "__aeabi_ul2d" => |uc| {
            let v = get64(uc, 0) as f64;
            set64(uc, 0, v.to_bits())
        },
        "__aeabi_idiv" => |uc| {
            let (a, b) = (r(uc, 0) as i32, r(uc, 1) as i32);
            set(uc, 0, a.checked_div(b).unwrap_or(0) as u32)
        },
        "__aeabi_uidiv" => |uc| {
            let (a, b) = (r(uc, 0), r(uc, 1));
            set(uc, 0, a.checked_div(b).unwrap_or(0))
        },
        "__aeabi_idivmod" => |uc| {
            let (a, b) = (r(uc, 0) as i32, r(uc, 1) as i32);
            set(uc, 0, a.checked_div(b).unwrap_or(0) as u32);
            set(uc, 1, a.checked_rem(b).unwrap_or(0) as u32)
        },
        "__aeabi_uidivmod" => |uc| {
            let (a, b) = (r(uc, 0), r(uc, 1));
            set(uc, 0, a.checked_div(b).unwrap_or(0));
            set(uc, 1, a.checked_rem(b).unwrap_or(0))
        },
        "__aeabi_ldivmod" => |uc| {
            let (a, b) = (get64(uc, 0) as i64, get64(uc, 2) as i64);
            set64(uc, 0, a.checked_div(b).unwrap_or(0) as u64);
            set64(uc, 2, a.checked_rem(b).unwrap_or(0) as u64)
        },
        "__aeabi_uldivmod" => |uc| {
            let (a, b) = (get64(uc, 0), get64(uc, 2));
            set64(uc, 0, a.checked_div(b).unwrap_or(0));
            set64(uc, 2, a.checked_rem(b).unwrap_or(0))
        },
        "__aeabi_lmul" => |uc| {
            let v = get64(uc, 0).wrapping_mul(get64(uc, 2));
            set64(uc, 0, v)
        },
        "__aeabi_llsl" => |uc| {
            let (a, s) = (get64(uc, 0), r(uc, 2));
            set64(uc, 0, if s >= 64 { 0 } else { a << s })
        },
        "__aeabi_llsr" => |uc| {
            let (a, s) = (get64(uc, 0), r(uc, 2));
            set64(uc, 0, if s >= 64 { 0 } else { a >> s })
        },
        "__aeabi_lasr" => |uc| {
            let (a, s) = (get64(uc, 0) as i64, r(uc, 2));
            set64(uc, 0, (a >> s.min(63)) as u64)
        },
        _ => return None,
    })
}
