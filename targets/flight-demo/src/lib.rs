//! `flight-demo`: the project's whole-run SIL module (see `flight::sil`).
#![no_std]

extern crate alloc;

wit_bindgen::generate!({ path: "wit", world: "flight-demo" });

#[global_allocator]
static ALLOC: bump::Bump<4096> = bump::Bump::new();

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

struct Demo;

impl Guest for Demo {
    fn run_stabilization() -> f32 {
        flight::sil::run_stabilization()
    }

    fn run_position_hold() -> f32 {
        flight::sil::run_position_hold()
    }
}

export!(Demo);
