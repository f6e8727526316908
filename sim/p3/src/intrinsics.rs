//! The `pulseengine:async` host intrinsics as meld lowers P3 streams, futures and waitable sets
//! to them (reference/pulseengine.md section 2): [`intrinsics`] gives one component its
//! [`HostFns`], served identically to wasmtime and to synth's ARM code, over the shared [`Hub`].

use std::sync::{Arc, Mutex};

use crate::abi::result;
use crate::hub::{Comp, Hub};
use twin_hosting::hosted::host::{HostFns, HostMem};
use twin_hosting::wasm::{Import, Val, ValType};

pub type SharedHub = Arc<Mutex<Hub>>;

/// The N i32 arguments of an intrinsic.
fn args<const N: usize>(a: &[Val]) -> Result<[u32; N], String> {
    let mut out = [0; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = match a.get(i) {
            Some(Val::I32(v)) => *v,
            other => return Err(format!("argument {i}: expected i32, got {other:?}")),
        };
    }
    Ok(out)
}

/// An i32 result (a count or a negative code).
fn ret(v: i32) -> Result<Vec<Val>, String> {
    Ok(vec![Val::I32(v as u32)])
}

/// Only memory 0 exists (one memory per fused component on the MCU path).
const OTHER_MEMORY: i32 = result::RUNTIME;

pub(crate) fn lock(hub: &SharedHub) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(|p| p.into_inner())
}

/// Intrinsic names: meld's `*_drop_*` and the reference's `*_close_*` spellings both resolve.
const DROPS: [(&str, bool, bool); 8] = [
    ("stream_drop_readable", true, true),
    ("stream_close_readable", true, true),
    ("stream_drop_writable", true, false),
    ("stream_close_writable", true, false),
    ("future_drop_readable", false, true),
    ("future_close_readable", false, true),
    ("future_drop_writable", false, false),
    ("future_close_writable", false, false),
];

/// The host functions component `comp` imports: every `pulseengine:async` intrinsic and its
/// `[task-return]` imports (any module; the values are recorded in the hub).
pub fn intrinsics(hub: &SharedHub, comp: Comp, imports: &[Import]) -> HostFns {
    use ValType::{I32, I64};
    let mut h = HostFns::default();
    let m = crate::abi::MODULE;
    let hb = hub.clone();
    h.register(m, "stream_new", &[], &[I64], move |_, _| {
        Ok(vec![Val::I64(lock(&hb).stream_new(comp) as u64)])
    });
    type Transfer = fn(&mut Hub, Comp, u32, &mut dyn HostMem, u32, u32) -> Result<i32, String>;
    for (name, transfer) in [
        ("stream_read", Hub::stream_read as Transfer),
        ("stream_write", Hub::stream_write),
    ] {
        let hb = hub.clone();
        h.register(m, name, &[I32, I32, I32, I32], &[I32], move |mem, a| {
            let [handle, ptr, len, mem_idx] = args(a)?;
            if mem_idx != 0 {
                return ret(OTHER_MEMORY);
            }
            ret(transfer(&mut lock(&hb), comp, handle, mem, ptr, len)?)
        });
    }
    for (name, read) in [("stream_cancel_read", true), ("stream_cancel_write", false)] {
        let hb = hub.clone();
        h.register(m, name, &[I32], &[I32], move |_, a| {
            ret(lock(&hb).stream_cancel(comp, args::<1>(a)?[0], read))
        });
    }
    for (name, read) in [("future_cancel_read", true), ("future_cancel_write", false)] {
        let hb = hub.clone();
        h.register(m, name, &[I32], &[I32], move |_, a| {
            ret(lock(&hb).future_cancel(comp, args::<1>(a)?[0], read))
        });
    }
    for (name, stream, readable) in DROPS {
        let hb = hub.clone();
        h.register(m, name, &[I32], &[], move |_, a| {
            let handle = args::<1>(a)?[0];
            let mut hub = lock(&hb);
            let r = if stream {
                hub.stream_drop(comp, handle, readable)
            } else {
                hub.future_drop(comp, handle, readable)
            };
            // A drop has no result: a bad handle is a trap, as in the canonical ABI.
            r.map(|_| Vec::new())
                .map_err(|c| format!("{name}({handle}): invalid handle ({c})"))
        });
    }
    let hb = hub.clone();
    h.register(m, "future_new", &[], &[I64], move |_, _| {
        // Futures a component creates itself carry one word (the reference gives no size).
        Ok(vec![Val::I64(lock(&hb).future_new(comp, 4) as u64)])
    });
    let hb = hub.clone();
    h.register(m, "future_read", &[I32, I32, I32], &[I32], move |mem, a| {
        let [handle, ptr, mem_idx] = args(a)?;
        if mem_idx != 0 {
            return ret(OTHER_MEMORY);
        }
        let got = lock(&hb).future_read(comp, handle);
        ret(match got {
            Ok(Some(v)) => {
                mem.write(ptr, &v)?;
                1
            }
            Ok(None) => 0,
            Err(c) => c,
        })
    });
    let hb = hub.clone();
    h.register(
        m,
        "future_write",
        &[I32, I32, I32],
        &[I32],
        move |mem, a| {
            let [handle, ptr, mem_idx] = args(a)?;
            if mem_idx != 0 {
                return ret(OTHER_MEMORY);
            }
            let size = lock(&hb).future_size(comp, handle);
            let Some(size) = size else {
                return ret(result::INVALID_HANDLE);
            };
            let value = mem.read(ptr, size)?;
            ret(lock(&hb).future_write(comp, handle, value))
        },
    );
    let hb = hub.clone();
    h.register(m, "waitable_set_new", &[], &[I32], move |_, _| {
        Ok(vec![Val::I32(lock(&hb).waitable_set_new(comp))])
    });
    let hb = hub.clone();
    h.register(m, "waitable_join", &[I32, I32], &[], move |_, a| {
        let [w, set] = args(a)?;
        lock(&hb)
            .waitable_join(comp, w, set)
            .map(|_| Vec::new())
            .map_err(|_| format!("waitable_join({w}, {set}): not this component's handle or set"))
    });
    let hb = hub.clone();
    h.register(m, "waitable_set_drop", &[I32], &[], move |_, a| {
        let set = args::<1>(a)?[0];
        lock(&hb)
            .waitable_set_drop(comp, set)
            .map(|_| Vec::new())
            .map_err(|c| format!("waitable_set_drop({set}): {c}"))
    });
    // Error contexts (the canonical ABI's `error-context.*` built-ins; both spellings, as for
    // the stream intrinsics). `new` reads the debug message as UTF-8 from (ptr, len).
    for name in ["error-context.new", "error_context_new"] {
        let hb = hub.clone();
        h.register(m, name, &[I32, I32], &[I32], move |mem, a| {
            let [ptr, len] = args(a)?;
            let bytes = mem.read(ptr, len)?;
            let message = String::from_utf8(bytes)
                .map_err(|_| format!("{name}: the debug message at {ptr:#x} is not UTF-8"))?;
            Ok(vec![Val::I32(lock(&hb).error_context_new(comp, message))])
        });
    }
    for name in ["error-context.drop", "error_context_drop"] {
        let hb = hub.clone();
        h.register(m, name, &[I32], &[], move |_, a| {
            let handle = args::<1>(a)?[0];
            lock(&hb)
                .error_context_drop(comp, handle)
                .map(|_| Vec::new())
                .map_err(|c| format!("{name}({handle}): invalid handle ({c})"))
        });
    }
    // `debug-message` lowers a string into the caller's memory through its cabi_realloc, which
    // a host function cannot call: refused with the message in the error, never faked.
    for name in ["error-context.debug-message", "error_context_debug_message"] {
        let hb = hub.clone();
        h.register(m, name, &[I32, I32], &[], move |_, a| {
            let [handle, _retptr] = args(a)?;
            let hub = lock(&hb);
            let message = hub
                .error_context_message(comp, handle)
                .ok_or_else(|| format!("{name}({handle}): invalid handle"))?;
            Err(format!(
                "{name}({handle}): the twin cannot lower the message into guest memory (it would need the guest's cabi_realloc); the message is {message:?}"
            ))
        });
    }
    for imp in imports
        .iter()
        .filter(|i| i.field.starts_with("[task-return]"))
    {
        let hb = hub.clone();
        let string_like = imp.ty.params == [ValType::I32, ValType::I32];
        h.register(
            &imp.module,
            &imp.field,
            &imp.ty.params,
            &imp.ty.results,
            move |mem: &mut dyn HostMem, a: &[Val]| {
                let bytes = if string_like {
                    {
                        let [ptr, len] = args(a)?;
                        Some(mem.read(ptr, len)?)
                    }
                } else {
                    None
                };
                lock(&hb).returned.insert(comp, (a.to_vec(), bytes));
                Ok(Vec::new())
            },
        );
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use twin_hosting::hosted::host::VecMem;

    fn call(h: &HostFns, name: &str, mem: &mut VecMem, a: &[Val]) -> Result<Vec<Val>, String> {
        let import = |params: Vec<ValType>, results: Vec<ValType>| Import {
            module: crate::abi::MODULE.into(),
            field: name.into(),
            ty: twin_hosting::wasm::FuncType { params, results },
        };
        let ty = match name {
            n if n.ends_with("new") => import(vec![ValType::I32; 2], vec![ValType::I32]),
            n if n.ends_with("drop") => import(vec![ValType::I32], vec![]),
            _ => import(vec![ValType::I32; 2], vec![]),
        };
        let f = h.bind(&[ty]).expect("bound").remove(0);
        (f.f)(mem, a)
    }

    #[test]
    fn error_contexts_are_made_dropped_and_checked() {
        let hub: SharedHub = Arc::new(Mutex::new(Hub::new(64)));
        let (a, b) = (intrinsics(&hub, 0, &[]), intrinsics(&hub, 1, &[]));
        let mut mem = VecMem(b"..boom..".to_vec());
        let Ok(v) = call(
            &a,
            "error-context.new",
            &mut mem,
            &[Val::I32(2), Val::I32(4)],
        ) else {
            panic!("error-context.new refused");
        };
        let Val::I32(handle) = v[0] else {
            panic!("an i32 handle")
        };
        assert_eq!(
            lock(&hub).error_context_message(0, handle),
            Some("boom"),
            "the message read from (ptr, len)"
        );
        // Another component cannot drop it; its owner can, once.
        assert!(call(&b, "error_context_drop", &mut mem, &[Val::I32(handle)]).is_err());
        let msg = call(
            &a,
            "error-context.debug-message",
            &mut mem,
            &[Val::I32(handle), Val::I32(0)],
        )
        .expect_err("refused, not faked");
        assert!(
            msg.contains("\"boom\"") && msg.contains("cabi_realloc"),
            "{msg}"
        );
        assert!(call(&a, "error-context.drop", &mut mem, &[Val::I32(handle)]).is_ok());
        assert!(call(&a, "error-context.drop", &mut mem, &[Val::I32(handle)]).is_err());
        // A message outside memory, or not UTF-8, traps.
        assert!(call(
            &a,
            "error-context.new",
            &mut mem,
            &[Val::I32(6), Val::I32(4)]
        )
        .is_err());
        let mut bad = VecMem(vec![0xFF, 0xFE]);
        assert!(call(
            &a,
            "error-context.new",
            &mut bad,
            &[Val::I32(0), Val::I32(2)]
        )
        .is_err());
    }
}
