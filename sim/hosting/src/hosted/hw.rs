//! The hardware-capability imports (wit/hw/hw.wit, `rt-twin:hw@0.1.0`) as host functions: each
//! lifts its arguments by the canonical ABI, performs the request on the emulated SoC through
//! `twin_machine::capability::Hw` at the calling core's virtual time, charges the bus time to
//! that core, and lowers its result. Results wider than one value go to the return area the
//! caller passes last (canonical ABI: `result<bytes32, bus-error>` is a discriminant byte at 0
//! and the payload at 8, 8-aligned for the u64s; `bytes32` is `len` at 0 and w0..w3 at 8..40;
//! `bus-error` a byte). Off the twin (wasmtime, native) every capability is a host error.

use super::host::{HostFns, HostMem};
use crate::wasm::{Import, Val, ValType};
use twin_machine::capability::{Hw, HwError};

const PKG: &str = "rt-twin:hw";
const VERSION: &str = "0.1.0";

fn i32_(v: &Val) -> u32 {
    match v {
        Val::I32(x) => *x,
        _ => 0,
    }
}

/// Run `f` on the machine the call runs on, then move the calling core's clock on by the time
/// it took. A hosted call counts its cycles from zero, so the models' time is carried on from
/// where the last capability left it (`Soc::capability_time`), and the core's deadline, which
/// the models' events would pull to their own times, is kept.
fn with_hw<T>(
    mem: &mut dyn HostMem,
    f: impl FnOnce(&mut Hw) -> Result<T, HwError>,
) -> Result<Result<T, HwError>, String> {
    let ctx = mem
        .hw()
        .ok_or("the hardware capabilities are served on the twin's cores only")?;
    let (r, took) = {
        let mut soc = ctx.soc.borrow_mut();
        let deadline = soc.cores[ctx.core].deadline.get();
        let start = ctx.now.max(soc.capability_time);
        let mut hw = Hw::new(&mut soc, ctx.core, start);
        let r = f(&mut hw);
        let end = hw.now;
        soc.capability_time = end;
        soc.cores[ctx.core].deadline.set(deadline);
        (r, end - start)
    };
    mem.stall(took);
    match r {
        Err(HwError::Twin(e)) => Err(e),
        r => Ok(r),
    }
}

/// Lower `result<bytes32, bus-error>` at `ret`.
fn put_bytes32(mem: &mut dyn HostMem, ret: u32, r: Result<Vec<u8>, HwError>) -> Result<(), String> {
    let mut area = [0u8; 48];
    match r {
        Ok(bytes) => {
            area[8] = bytes.len() as u8;
            area[16..16 + bytes.len()].copy_from_slice(&bytes);
        }
        Err(e) => {
            area[0] = 1;
            area[8] = match e {
                HwError::NoSuchBus(_) => 0,
                HwError::Nack => 1,
                _ => 2,
            };
        }
    }
    mem.write(ret, &area)
}

fn list(mem: &mut dyn HostMem, ptr: &Val, len: &Val) -> Result<Vec<u8>, String> {
    mem.read(i32_(ptr), i32_(len))
}

/// The bus accesses one side of a differential made through `--imports bus`, in order:
/// (write, address, bytes, value read or written). The ARM side (the twin's cores) performs
/// them on the SoC and records them; the wasmtime side, which has no machine, replays them,
/// checking that it asks for the same access at each step.
pub type BusLog = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<BusAccess>>>;

/// One access of a [`BusLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusAccess {
    pub write: bool,
    pub addr: u32,
    pub size: u8,
    pub value: u32,
}

impl std::fmt::Display for BusAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = if self.write { "write" } else { "read" };
        write!(f, "{op}{} at {:#010x}", 8 * self.size, self.addr)?;
        if self.write {
            write!(f, " of {:#x}", self.value)?;
        }
        Ok(())
    }
}

/// Which imports `--imports bus` routes to the core's bus: `mmio_read{8,16,32}(addr) -> i32`
/// and `mmio_write{8,16,32}(addr, value)` of any module; (write, bytes).
fn bus_import(field: &str) -> Option<(bool, u8)> {
    let (write, width) = match (
        field.strip_prefix("mmio_read"),
        field.strip_prefix("mmio_write"),
    ) {
        (Some(w), _) => (false, w),
        (_, Some(w)) => (true, w),
        _ => return None,
    };
    let size = match width {
        "8" => 1,
        "16" => 2,
        "32" => 4,
        _ => return None,
    };
    Some((write, size))
}

impl HostFns {
    /// `--imports bus`: every `mmio_read*`/`mmio_write*` import of `imports` (see
    /// [`bus_import`]) that nothing serves yet. With `replay` false, the access goes to the
    /// calling core's bus (the peripheral models) at its virtual time and is appended to `log`;
    /// with `replay` true (the wasmtime side), the next access of `log` is taken, checked
    /// against the one asked for, and its value returned. The imports served.
    pub fn serve_bus(&mut self, imports: &[Import], log: &BusLog, replay: bool) -> Vec<String> {
        use ValType::I32;
        let mut served = Vec::new();
        for imp in imports {
            let Some((write, size)) = bus_import(&imp.field) else {
                continue;
            };
            let (params, results): (&[ValType], &[ValType]) = if write {
                (&[I32, I32], &[])
            } else {
                (&[I32], &[I32])
            };
            if self.contains(&imp.module, &imp.field)
                || imp.ty.params != params
                || imp.ty.results != results
            {
                continue;
            }
            let log = log.clone();
            self.register(&imp.module, &imp.field, params, results, move |mem, a| {
                let asked = BusAccess {
                    write,
                    addr: i32_(&a[0]),
                    size,
                    value: if write { i32_(&a[1]) } else { 0 },
                };
                let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                let value = if replay {
                    let Some(done) = log.pop_front() else {
                        return Err(format!("bus {asked}: the ARM side made no such access"));
                    };
                    let same = BusAccess {
                        value: if write { done.value } else { 0 },
                        ..done
                    };
                    if same != asked {
                        return Err(format!("bus {asked} where the ARM side made a {done}"));
                    }
                    done.value
                } else {
                    let value = if write {
                        with_hw(mem, |hw| {
                            hw.bus_write(asked.addr, usize::from(size), asked.value)
                        })?
                        .map_err(|e| e.to_string())?;
                        asked.value
                    } else {
                        with_hw(mem, |hw| hw.bus_read(asked.addr, usize::from(size)))?
                            .map_err(|e| e.to_string())?
                    };
                    log.push_back(BusAccess { value, ..asked });
                    value
                };
                Ok(if write { vec![] } else { vec![Val::I32(value)] })
            });
            served.push(format!("{}::{}", imp.module, imp.field));
        }
        served
    }

    /// The `rt-twin:hw` capabilities (wit/hw/hw.wit), served against the SoC's models.
    pub fn with_hw(mut self) -> HostFns {
        use ValType::*;
        let iface = |name: &str| format!("{PKG}/{name}@{VERSION}");
        self.register(
            &iface("spi"),
            "transfer",
            &[I32, I32, I32, I32, I32, I32],
            &[],
            |mem, a| {
                let tx = list(mem, &a[3], &a[4])?;
                let cs = (i32_(&a[1]) as u8, i32_(&a[2]) as u8);
                let r = with_hw(mem, |hw| hw.spi_transfer(i32_(&a[0]) as u8, cs, &tx))?;
                put_bytes32(mem, i32_(&a[5]), r)?;
                Ok(vec![])
            },
        );
        self.register(
            &iface("i2c"),
            "write-read",
            &[I32, I32, I32, I32, I32, I32],
            &[],
            |mem, a| {
                let tx = list(mem, &a[2], &a[3])?;
                let r = with_hw(mem, |hw| {
                    hw.i2c_write_read(
                        i32_(&a[0]) as u8,
                        i32_(&a[1]) as u8,
                        &tx,
                        i32_(&a[4]) as usize,
                    )
                })?;
                put_bytes32(mem, i32_(&a[5]), r)?;
                Ok(vec![])
            },
        );
        self.register(&iface("gpio"), "get", &[I32, I32], &[I32], |mem, a| {
            let r = with_hw(mem, |hw| hw.gpio_get(i32_(&a[0]) as u8, i32_(&a[1]) as u8))?;
            Ok(vec![Val::I32(u32::from(r.unwrap_or(false)))])
        });
        self.register(&iface("gpio"), "set", &[I32, I32, I32], &[], |mem, a| {
            let (port, pin, high) = (i32_(&a[0]) as u8, i32_(&a[1]) as u8, i32_(&a[2]) != 0);
            // A pin the board does not have is ignored (the WIT's `set` has no error).
            let _ = with_hw(mem, |hw| hw.gpio_set(port, pin, high))?;
            Ok(vec![])
        });
        self.register(
            &iface("pwm"),
            "set",
            &[I32, I32, I32, I32],
            &[I32],
            |mem, a| {
                let r = with_hw(mem, |hw| {
                    hw.pwm_set(
                        i32_(&a[0]) as u8,
                        i32_(&a[1]) as u8,
                        i32_(&a[2]),
                        i32_(&a[3]),
                    )
                })?;
                Ok(vec![Val::I32(u32::from(r.is_ok()))])
            },
        );
        self.register(&iface("clock"), "now-ns", &[], &[I64], |mem, _| {
            let ctx = mem
                .hw()
                .ok_or("the hardware capabilities are served on the twin's cores only")?;
            Ok(vec![Val::I64(ctx.now / twin_machine::time::PS_PER_NS)])
        });
        self.register(
            &iface("uart"),
            "write",
            &[I32, I32, I32],
            &[I32],
            |mem, a| {
                let bytes = list(mem, &a[1], &a[2])?;
                let r = with_hw(mem, |hw| hw.uart_write(i32_(&a[0]) as u8, &bytes))?;
                Ok(vec![Val::I32(r.unwrap_or(0))])
            },
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosted::host::VecMem;
    use crate::wasm::{FuncType, Import};

    fn bound(field: &str, params: &[ValType], results: &[ValType]) -> super::super::host::HostFunc {
        let iface = if field == "now-ns" { "clock" } else { "spi" };
        let imp = Import {
            module: format!("{PKG}/{iface}@{VERSION}"),
            field: field.into(),
            ty: FuncType {
                params: params.to_vec(),
                results: results.to_vec(),
            },
        };
        HostFns::default().with_hw().bind(&[imp]).unwrap().remove(0)
    }

    #[test]
    fn off_the_twin_every_capability_is_refused_by_name() {
        use ValType::*;
        let now = bound("now-ns", &[], &[I64]);
        let e = (now.f)(&mut VecMem(vec![0; 64]), &[]).unwrap_err();
        assert!(e.contains("twin's cores only"), "{e}");
        let spi = bound("transfer", &[I32; 6], &[]);
        let args = [2, 3, 24, 0, 2, 16].map(Val::I32);
        let e = (spi.f)(&mut VecMem(vec![0; 64]), &args).unwrap_err();
        assert!(e.contains("twin's cores only"), "{e}");
    }

    #[test]
    fn the_result_area_is_the_canonical_abi_layout() {
        // result<bytes32, bus-error>: discriminant at 0, payload at 8 (u64 alignment);
        // bytes32: len at 0, w0 at 8: from the payload, len at 8 and the bytes from 16.
        let mut mem = VecMem(vec![0xAA; 64]);
        put_bytes32(&mut mem, 0, Ok(vec![1, 2, 3])).unwrap();
        assert_eq!(mem.0[0], 0);
        assert_eq!(mem.0[8], 3);
        assert_eq!(&mem.0[16..20], &[1, 2, 3, 0]);
        put_bytes32(&mut mem, 0, Err(HwError::Nack)).unwrap();
        assert_eq!((mem.0[0], mem.0[8]), (1, 1), "err(nack)");
    }
}
