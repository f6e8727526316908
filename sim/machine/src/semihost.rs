//! ARM semihosting (BKPT 0xAB on M-profile): the calls firmware built with the
//! `cortex-m-semihosting` crate makes, served from virtual time.
//!
//! Source: ARM "Semihosting for AArch32 and AArch64" v2 (operation numbers and parameter blocks).
//!
//! | Op   | Name              | Implemented |
//! |------|-------------------|-------------|
//! | 0x01 | SYS_OPEN          | ":tt" only: modes 0-3 -> stdin (handle 1), 4-7 -> stdout (handle 1), 8-11 -> stderr (handle 2); other files -1 (no host file access) |
//! | 0x02 | SYS_CLOSE         | 0 |
//! | 0x03 | SYS_WRITEC        | one byte to stdout |
//! | 0x04 | SYS_WRITE0        | NUL-terminated string to stdout |
//! | 0x05 | SYS_WRITE         | to stdout (1) or stderr (2); returns 0 (all written) |
//! | 0x06 | SYS_READ          | returns the length (nothing read: EOF) |
//! | 0x09 | SYS_ISTTY         | 1 |
//! | 0x10 | SYS_CLOCK         | centiseconds of virtual time |
//! | 0x11 | SYS_TIME          | seconds of virtual time (deterministic) |
//! | 0x13 | SYS_ERRNO         | 0 |
//! | 0x15 | SYS_GET_CMDLINE   | empty string |
//! | 0x16 | SYS_HEAPINFO      | all zero (no host heap) |
//! | 0x18 | SYS_EXIT          | reason 0x20026 (ApplicationExit) -> exit 0, any other -> exit 1 |
//! | 0x20 | SYS_EXIT_EXTENDED | ApplicationExit -> the subcode, other reasons -> 1 |
//! | 0x30 | SYS_ELAPSED       | core clock cycles of virtual time (64-bit) |
//! | 0x31 | SYS_TICKFREQ      | the core clock in Hz |
//! | other|                   | returns -1 |

use std::io::Write;

use unicorn_engine::{RegisterARM, Unicorn};

use crate::time::{Ps, PS_PER_S};

const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;

pub enum Outcome {
    Continue,
    Exit(i32),
}

/// Per-core semihosting state: what the firmware printed.
#[derive(Debug, Default)]
pub struct Semihost {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub echo: bool,
}

impl Semihost {
    pub fn new(echo: bool) -> Semihost {
        Semihost {
            echo,
            ..Default::default()
        }
    }

    fn emit(&mut self, handle: u32, bytes: &[u8]) {
        if handle == 2 {
            self.stderr.extend_from_slice(bytes);
            if self.echo {
                let _ = std::io::stderr().write_all(bytes);
            }
        } else {
            self.stdout.extend_from_slice(bytes);
            if self.echo {
                let mut out = std::io::stdout();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }
        }
    }
}

/// What a core's engine data gives the semihosting calls: its clock and its semihosting state
/// (the core's `CoreData` implements it).
pub trait Host {
    /// Virtual time now.
    fn now(&self) -> Ps;
    /// Picoseconds per cycle of the core's clock.
    fn ps_per_cycle(&self) -> Ps;
    fn semihost(&mut self) -> &mut Semihost;
}

/// The word at `addr` (0 where nothing is mapped). Guest-given addresses and the offsets added
/// to them wrap at 4 GiB, as on the bus: a parameter block at the top of the address space
/// reads what is mapped there, never panics the twin.
fn word<D>(uc: &Unicorn<'_, D>, addr: u32) -> u32 {
    let mut b = [0u8; 4];
    let _ = uc.mem_read(u64::from(addr), &mut b);
    u32::from_le_bytes(b)
}

fn bytes<D>(uc: &Unicorn<'_, D>, addr: u32, len: u32) -> Vec<u8> {
    let mut v = vec![0u8; len.min(1 << 20) as usize];
    let _ = uc.mem_read(u64::from(addr), &mut v);
    v
}

fn cstring<D>(uc: &Unicorn<'_, D>, addr: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut a = addr;
    let mut b = [0u8; 1];
    while out.len() < 4096 && uc.mem_read(u64::from(a), &mut b).is_ok() && b[0] != 0 {
        out.push(b[0]);
        a = a.wrapping_add(1);
    }
    out
}

/// Serve the semihosting call in r0/r1; the result goes to r0.
pub fn call<D: Host>(uc: &mut Unicorn<'_, D>) -> Outcome {
    let op = uc.reg_read(RegisterARM::R0).unwrap_or(0) as u32;
    let arg = uc.reg_read(RegisterARM::R1).unwrap_or(0) as u32;
    let (now, hz) = {
        let d = uc.get_data();
        (d.now(), PS_PER_S / d.ps_per_cycle())
    };
    let result: i64 = match op {
        0x01 => {
            let name = bytes(uc, word(uc, arg), word(uc, arg.wrapping_add(8)));
            let mode = word(uc, arg.wrapping_add(4));
            if name == b":tt" {
                if mode >= 8 {
                    2
                } else {
                    1
                }
            } else {
                -1
            }
        }
        0x02 => 0,
        0x03 => {
            let b = bytes(uc, arg, 1);
            uc.get_data_mut().semihost().emit(1, &b);
            0
        }
        0x04 => {
            let s = cstring(uc, arg);
            uc.get_data_mut().semihost().emit(1, &s);
            0
        }
        0x05 => {
            let handle = word(uc, arg);
            let data = bytes(
                uc,
                word(uc, arg.wrapping_add(4)),
                word(uc, arg.wrapping_add(8)),
            );
            uc.get_data_mut().semihost().emit(handle, &data);
            0
        }
        0x06 => i64::from(word(uc, arg.wrapping_add(8))),
        0x09 => 1,
        0x10 => (now / (PS_PER_S / 100)) as i64,
        0x11 => (now / PS_PER_S) as i64,
        0x13 => 0,
        0x15 => {
            let buf = word(uc, arg);
            let _ = uc.mem_write(u64::from(buf), &[0]);
            let _ = uc.mem_write(u64::from(arg.wrapping_add(4)), &0u32.to_le_bytes());
            0
        }
        0x16 => {
            let block = word(uc, arg);
            let _ = uc.mem_write(u64::from(block), &[0u8; 16]);
            0
        }
        0x18 => {
            return Outcome::Exit(if arg == ADP_STOPPED_APPLICATION_EXIT {
                0
            } else {
                1
            })
        }
        0x20 => {
            let reason = word(uc, arg);
            let sub = word(uc, arg.wrapping_add(4)) as i32;
            return Outcome::Exit(if reason == ADP_STOPPED_APPLICATION_EXIT {
                sub
            } else {
                1
            });
        }
        0x30 => {
            let cycles = (u128::from(now) * u128::from(hz) / u128::from(PS_PER_S)) as u64;
            let _ = uc.mem_write(u64::from(arg), &cycles.to_le_bytes());
            0
        }
        0x31 => hz as i64,
        _ => -1,
    };
    let _ = uc.reg_write(RegisterARM::R0, result as u32 as u64);
    Outcome::Continue
}
