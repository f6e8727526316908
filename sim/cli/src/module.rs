//! The module a hosting command (`sim call`, `sim diff`, `sim findings`) works on: its
//! command-line arguments, and the module hosted on an emulated core and in wasmtime from them.

use std::path::PathBuf;

use twin_hosting::canon::Wit;
use twin_hosting::hosted::host::{HostFns, Stub};
use twin_hosting::hosted::hw::BusLog;
use twin_hosting::hosted::link::RelObject;
use twin_hosting::hosted::{Hosted, Options};
use twin_hosting::reference::Reference;
use twin_hosting::wasm::WasmModule;
use twin_machine::board::Board;
use twin_machine::Error as TwinError;

#[derive(clap::Args)]
pub(crate) struct ModuleArgs {
    /// The core wasm module (as meld emits; .wasm or .wat).
    #[arg(long)]
    pub(crate) wasm: PathBuf,
    /// synth's relocatable object for it (compiled with synth when neither this nor --elf).
    #[arg(long, conflicts_with = "elf")]
    pub(crate) object: Option<PathBuf>,
    /// synth's self-contained image for it (ET_EXEC with vector table; modules without imports).
    #[arg(long)]
    pub(crate) elf: Option<PathBuf>,
    /// Core to run on.
    #[arg(long, default_value = "m7")]
    pub(crate) core: String,
    /// synth target profile when compiling (default: cortex-m7dp on m7, cortex-m4f on m4).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// synth --safety-bounds when compiling.
    #[arg(long, default_value = "software")]
    pub(crate) safety_bounds: String,
    /// Board description (default: the built-in targets/rt1176.ron).
    #[arg(long)]
    pub(crate) board: Option<PathBuf>,
    /// Give the module at most this much linear memory (bytes; 0x hex, or a K/M suffix for
    /// KiB/MiB), as a deployment with less RAM than the module declares: R10 is the cap and an
    /// access beyond it traps in synth's bounds check. Only the first BYTES are compared.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub(crate) memory_cap: Option<u32>,
    /// Cycle budget of each export call on the ARM side (a call that does not return within it
    /// stops); the wasmtime reference gets 4 units of fuel per cycle. Default: 10,000,000 for
    /// `sim diff` (a case that loops for ever ends in well under a second on both sides),
    /// 2,000,000,000 for `sim call`.
    #[arg(long, value_name = "N")]
    pub(crate) max_cycles: Option<u64>,
    /// Serve imports the twin has no host function for from this wasm module's exports (by
    /// `module::field`, then by the field; same types; the provider imports nothing). Each side
    /// of `sim diff` gets its own instance. May be given several times (the first that exports
    /// an import serves it). `bus` routes `mmio_read8/16/32(addr) -> i32` and
    /// `mmio_write8/16/32(addr, value)` imports to the core's bus (the peripheral models); in
    /// `sim diff` wasmtime replays the ARM side's accesses, each checked against its own.
    #[arg(long = "imports", value_name = "PROVIDER.wasm|bus")]
    pub(crate) imports: Vec<PathBuf>,
    /// `--imports bus`: the ARM side's bus accesses, which the wasmtime side replays.
    #[arg(skip)]
    pub(crate) bus_log: BusLog,
    /// Serve the imports still unserved with stubs of their types: `trap` refuses the call (a
    /// host error, the same on both sides), `zero` returns zeros.
    #[arg(long, value_enum, value_name = "trap|zero")]
    pub(crate) stub_imports: Option<StubImports>,
    /// The module's WIT (a .wit file or a directory of them): exports it describes take WIT
    /// values (WAVE text in `sim call --args`, generated records in `sim diff`), lowered through
    /// the module's cabi_realloc. Default: the WIT embedded in the module's component-type
    /// section (wit-bindgen, cargo-component), if any.
    #[arg(long, value_name = "WIT", conflicts_with = "core_abi")]
    pub(crate) wit: Option<PathBuf>,
    /// Ignore any WIT: core values only (`--args 1,2.5`, random core cases).
    #[arg(long)]
    pub(crate) core_abi: bool,
}

/// Which side of a run host functions serve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Arm,
    Wasmtime,
}

/// `--stub-imports`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum StubImports {
    Trap,
    Zero,
}

/// The host functions for one side of a run of `wasm`: the built-in ones; the
/// `pulseengine:async` intrinsics over a hub of the side's own, when the module imports them
/// (streams, futures and error contexts within the module); those of the `--imports` providers
/// (a new instance of each); then `--stub-imports` stubs.
pub(crate) fn host_fns(
    m: &ModuleArgs,
    wasm: &WasmModule,
    side: Side,
) -> twin_machine::Result<HostFns> {
    let mut fns = HostFns::builtin();
    if wasm
        .imports
        .iter()
        .any(|i| i.module == twin_p3::abi::MODULE)
    {
        let hub: twin_p3::SharedHub = std::sync::Arc::new(std::sync::Mutex::new(
            twin_p3::hub::Hub::new(twin_p3::hub::DEFAULT_STREAM_CAPACITY),
        ));
        fns.extend(twin_p3::intrinsics(&hub, 0, &wasm.imports));
    }
    for provider in &m.imports {
        if provider.as_os_str() == "bus" {
            fns.serve_bus(&wasm.imports, &m.bus_log, side == Side::Wasmtime);
        } else {
            twin_hosting::provider::serve(&mut fns, provider, &wasm.imports)?;
        }
    }
    if let Some(stub) = m.stub_imports {
        let how = match stub {
            StubImports::Trap => Stub::Trap,
            StubImports::Zero => Stub::Zero,
        };
        fns.stub_missing(&wasm.imports, how);
    }
    Ok(fns)
}

/// The WIT that describes the module's exports (see `ModuleArgs::wit`), if any.
pub(crate) fn module_wit(m: &ModuleArgs, wasm: &WasmModule) -> twin_machine::Result<Option<Wit>> {
    if m.core_abi {
        return Ok(None);
    }
    match &m.wit {
        Some(path) => Wit::load(path).map(Some),
        None => Wit::embedded(&wasm.bytes, &wasm.path),
    }
}

/// A byte count: decimal, 0x hex, or with a K or M suffix (KiB, MiB).
pub(crate) fn parse_bytes(s: &str) -> std::result::Result<u32, String> {
    let t = s.trim();
    let (digits, unit) = match t.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1024u64),
        None => match t.strip_suffix(['M', 'm']) {
            Some(d) => (d, 1024 * 1024),
            None => (t, 1),
        },
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => u64::from_str_radix(h, 16),
        None => digits.parse(),
    }
    .map_err(|_| format!("{s:?} is not a byte count (e.g. 1048576, 0x100000, 1024K, 1M)"))?;
    n.checked_mul(unit)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| format!("{s} bytes is more than a 32-bit core can address"))
}

/// The hosting options `sim call` and `sim diff` take.
pub(crate) fn module_options(m: &ModuleArgs) -> Options {
    Options {
        memory_cap: m.memory_cap,
        max_cycles: budget(m),
        ..Options::default()
    }
}

/// The ARM side's cycle budget per call (`--max-cycles`, else the hosting default).
pub(crate) fn budget(m: &ModuleArgs) -> u64 {
    m.max_cycles.unwrap_or(Options::default().max_cycles)
}

/// The wasmtime reference of a module, its fuel following the ARM side's cycle budget.
pub(crate) fn reference(m: &ModuleArgs, wasm: &WasmModule) -> twin_machine::Result<Reference> {
    let mut r = Reference::new(wasm, &host_fns(m, wasm, Side::Wasmtime)?)?;
    r.fuel_budget = twin_hosting::reference::fuel_for_cycles(budget(m));
    Ok(r)
}

/// Load (or compile) the module and host it on the chosen core; also returns the module.
pub(crate) fn host(m: &ModuleArgs) -> twin_machine::Result<Hosted> {
    let wasm = WasmModule::load(&m.wasm)?;
    let board = match &m.board {
        Some(p) => Board::load(p)?,
        None => Board::rt1176(),
    };
    if let Some(elf) = &m.elf {
        let image = twin_machine::image::Image::load(elf)?;
        return Hosted::from_image(board, &m.core, wasm, &image, module_options(m));
    }
    let tmp;
    let mut compiled = twin_hosting::synth::Compiled::default();
    let object_path = match &m.object {
        Some(p) => p.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("rt-twin-{}", std::process::id()));
            std::fs::create_dir_all(&tmp).map_err(|e| TwinError::Io {
                path: tmp.display().to_string(),
                source: e,
            })?;
            let out = tmp.join("module.o");
            let target = m
                .target
                .clone()
                .unwrap_or_else(|| twin_hosting::synth::default_target(&m.core).to_string());
            compiled = twin_hosting::synth::compile(&m.wasm, &target, &m.safety_bounds, &out)?;
            out
        }
    };
    let bytes = std::fs::read(&object_path).map_err(|e| TwinError::Io {
        path: object_path.display().to_string(),
        source: e,
    })?;
    let object = RelObject::parse(&bytes, &object_path.display().to_string())?;
    // A new ARM side: the wasmtime side made with it replays its bus accesses from the start.
    m.bus_log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let fns = host_fns(m, &wasm, Side::Arm)?;
    let mut hosted = Hosted::new(board, &m.core, wasm, &object, &fns, module_options(m))?;
    let stack_json = PathBuf::from(format!("{}.stack.json", object_path.display()));
    if stack_json.exists() {
        hosted.load_stack_json(&stack_json)?;
    }
    hosted.skip_reasons = compiled.skipped.into_iter().collect();
    Ok(hosted)
}

/// How the hosting core counts cycles (its CPU model's timing table or a flat figure).
pub(crate) fn cycle_model(h: &Hosted) -> String {
    let core = h.machine.core_name(h.core);
    h.machine
        .cycle_models()
        .into_iter()
        .find(|(c, _)| c == core)
        .map(|(_, m)| m)
        .unwrap_or_default()
}
