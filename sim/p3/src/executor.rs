//! The executor: one ready queue per core, one thread per component (AMP: pinned to its core,
//! never migrated). It calls `[async-lift]F` once, then `[callback][async-lift]F` per event until
//! EXIT; a callback runs to completion on the component's one stack.
//!
//! Properties, each checked by a test that fails when it is broken (`Sabotage` breaks them on
//! purpose):
//! - **no lost wakeups**: every event the hub latches for a waiting component is delivered
//!   exactly once (`Wakeups`: latched == delivered at the end; a wait that can never be served
//!   is reported as a deadlock naming who waits on what);
//! - **bounded poll**: a callback that exceeds its budget (wasmtime fuel, or ARM cycles) is a
//!   fault of that component, reported with the budget; the others go on;
//! - **fair ready queue**: FIFO per core; the longest a ready component waited (in callbacks run
//!   on its core meanwhile) is measured and bounded by the number of components on the core.
//!
//! Cores run in virtual time: the next callback runs on the core whose clock is earliest; a
//! callback advances its core's clock by its cost (ARM cycles; wasmtime fuel, 1 cycle each).

use std::collections::VecDeque;

use serde::Serialize;

use crate::abi::{self, event, Code};
use crate::hub::{Comp, Place};
use crate::intrinsics::{intrinsics, lock, SharedHub};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use twin_hosting::hosted::link::RelObject;
use twin_machine::error::{Error, Result};

use twin_hosting::hosted::{Arena, Module, Options};
use twin_hosting::reference::{RefTrap, Reference};
use twin_hosting::wasm::{Val, WasmModule};
use twin_machine::machine::Machine;

/// What one call of an export did.
#[derive(Debug, Clone)]
pub struct Called {
    pub result: std::result::Result<Vec<Val>, String>,
    /// True when the call was stopped for exceeding its budget.
    pub over_budget: bool,
    /// Cost in the backend's unit (cycles on ARM, fuel in wasmtime).
    pub cost: u64,
    /// Stack bytes the call used (ARM; 0 in wasmtime).
    pub stack: u32,
}

/// A component instance on some backend.
pub trait Instance {
    fn call(&mut self, export: &str, args: &[Val], budget: u64) -> Result<Called>;
    fn backend(&self) -> &'static str;
    /// Store bytes in the component's linear memory (a same-core stream ring).
    fn write_memory(&mut self, addr: u32, bytes: &[u8]) -> Result<()>;
    /// Reserve `bytes` of fresh linear memory for a stream ring; its address.
    fn reserve(&mut self, bytes: u32) -> Result<u32>;
    /// `len` bytes of the component's linear memory at `addr`.
    fn read_memory(&mut self, addr: u32, len: u32) -> Result<Vec<u8>>;
}

/// A component in wasmtime.
pub struct Wasmtime {
    pub reference: Reference,
    pub module: std::rc::Rc<WasmModule>,
}

impl Instance for Wasmtime {
    fn call(&mut self, export: &str, args: &[Val], budget: u64) -> Result<Called> {
        let n = self
            .module
            .export(export)
            .map(|e| e.ty.results.len())
            .ok_or_else(|| Error::Usage(format!("{}: no export {export:?}", self.module.path)))?;
        self.reference.fuel_budget = budget;
        let r = self.reference.call(export, args, n)?;
        Ok(Called {
            over_budget: matches!(r, Err(RefTrap::OutOfFuel)),
            result: r.map_err(|t| t.to_string()),
            cost: self.reference.last_fuel,
            stack: 0,
        })
    }
    fn backend(&self) -> &'static str {
        "wasmtime"
    }
    fn write_memory(&mut self, addr: u32, bytes: &[u8]) -> Result<()> {
        self.reference.write_memory(addr, bytes)
    }
    fn reserve(&mut self, bytes: u32) -> Result<u32> {
        self.reference.grow_memory(bytes)
    }
    fn read_memory(&mut self, addr: u32, len: u32) -> Result<Vec<u8>> {
        self.reference.read_memory(addr, len)
    }
}

/// A component as synth's ARM code, linked on a core of a machine it may share with others.
pub struct Arm {
    pub machine: Rc<RefCell<Machine>>,
    pub module: Module,
}

impl Instance for Arm {
    fn call(&mut self, export: &str, args: &[Val], budget: u64) -> Result<Called> {
        self.module.set_max_cycles(budget);
        let out = self
            .module
            .call(&mut self.machine.borrow_mut(), export, args)?;
        Ok(Called {
            over_budget: matches!(
                out.result,
                Err(twin_hosting::hosted::ArmTrap::Timeout { .. })
            ),
            result: out.result.map_err(|t| t.to_string()),
            cost: out.cycles,
            stack: out.stack_bytes,
        })
    }
    fn backend(&self) -> &'static str {
        "arm"
    }
    fn write_memory(&mut self, addr: u32, bytes: &[u8]) -> Result<()> {
        self.module
            .write_memory(&mut self.machine.borrow_mut(), addr, bytes)
    }
    fn reserve(&mut self, _bytes: u32) -> Result<u32> {
        // synth's code gets memory.grow = -1 and a fixed linear-memory block, and a component
        // that reads a stream imports stream_read, which synth 0.89 declines: no ARM component
        // can hold a stream end (reference/pulseengine.md section 1).
        Err(Error::Usage(
            "an ARM component cannot hold a stream end: synth 0.89 declines the \
             pulseengine:async stream intrinsics"
                .into(),
        ))
    }
    fn read_memory(&mut self, addr: u32, len: u32) -> Result<Vec<u8>> {
        self.module
            .read_memory(&mut self.machine.borrow_mut(), addr, len)
    }
}

/// One board whose cores host several ARM components each: every component is linked next to
/// the ones already on its core (its own code, globals, stack and linear memory).
pub struct ArmBoard {
    pub machine: Rc<RefCell<Machine>>,
    arena: Arena,
    /// Stack bytes each component gets (callback mode: one stack per component).
    pub stack_bytes: u32,
}

impl ArmBoard {
    pub fn new(stack_bytes: u32) -> Result<ArmBoard> {
        let machine = Machine::new(
            twin_machine::board::Board::rt1176(),
            &twin_machine::machine::Config::default(),
        )?;
        Ok(ArmBoard {
            machine: Rc::new(RefCell::new(machine)),
            arena: Arena::default(),
            stack_bytes,
        })
    }

    /// Link synth's object for `wasm` on `core` ("m7" or "m4") for component `comp`.
    pub fn instance(
        &mut self,
        hub: &SharedHub,
        comp: Comp,
        wasm: &WasmModule,
        object: &RelObject,
        core: &str,
    ) -> Result<Box<dyn Instance>> {
        let fns = intrinsics(hub, comp, &wasm.imports);
        let options = Options {
            stack_bytes: self.stack_bytes,
            ..Options::default()
        };
        let module = Module::link_in(
            &mut self.machine.borrow_mut(),
            core,
            wasm.clone(),
            object,
            &fns,
            options,
            &mut self.arena,
        )?;
        Ok(Box::new(Arm {
            machine: self.machine.clone(),
            module,
        }))
    }
}

/// Deliberate breakage, for the tests that show each property check can fail.
#[derive(Debug, Clone, Default)]
pub struct Sabotage {
    /// The hub drops every n-th latched event.
    pub lose_every_nth_wakeup: Option<u64>,
    /// The ready queue serves the newest entry first.
    pub lifo_ready_queue: bool,
    /// Callbacks run without the configured budget ([`BACKSTOP`] applies).
    pub ignore_budget: bool,
    /// A doorbell is written to TR0 even while the previous one is unread (TE0 clear): the
    /// driver bug that overwrites a message and loses its wake-up.
    pub overwrite_busy_mu: bool,
}

/// The budget of a callback when the configured one is ignored (1e8 fuel or cycles).
pub const BACKSTOP: u64 = 100_000_000;

#[derive(Debug, Clone, PartialEq)]
enum State {
    Ready { event: (u32, u32, u32), since: u64 },
    Waiting(u32),
    Exited,
    Faulted,
}

/// Per-component figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadStats {
    pub name: String,
    pub core: usize,
    pub backend: String,
    pub callbacks: u64,
    pub cost_min: u64,
    pub cost_max: u64,
    pub cost_total: u64,
    pub stack_high_water: u32,
    /// Longest wait from ready to running, in callbacks run on its core meanwhile.
    pub max_ready_wait: u64,
    pub events: u64,
    pub fault: Option<String>,
    /// What the task returned (`[task-return]` values, and the bytes of an (i32, i32) pair).
    #[serde(skip)]
    pub returned: Option<(Vec<Val>, Option<Vec<u8>>)>,
}

impl ThreadStats {
    pub fn cost_mean(&self) -> f64 {
        if self.callbacks == 0 {
            0.0
        } else {
            self.cost_total as f64 / self.callbacks as f64
        }
    }

    /// The returned bytes as text.
    pub fn returned_text(&self) -> Option<String> {
        self.returned
            .as_ref()
            .and_then(|(_, b)| b.as_ref())
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    pub fn returned_i32(&self) -> Option<u32> {
        match self.returned.as_ref().map(|r| r.0.as_slice()) {
            Some([Val::I32(v)]) => Some(*v),
            _ => None,
        }
    }
}

struct Thread {
    func: String,
    args: Vec<Val>,
    instance: Box<dyn Instance>,
    state: State,
    stats: ThreadStats,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Ending {
    /// Every component exited or faulted.
    Done,
    /// Nobody is ready and these components wait on sets no event will reach: (component, set).
    Deadlock(Vec<(String, u32)>),
    /// The dispatch limit was reached.
    Limit,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ending: Ending,
    pub dispatches: u64,
    pub threads: Vec<ThreadStats>,
    /// Virtual time of each core at the end, in cost units.
    pub core_clock: Vec<u64>,
    /// Events latched that were never delivered (the lost-wakeup check; 0 when sound).
    pub undelivered: u64,
    pub streams: Vec<StreamStats>,
    pub mu: MuStats,
    pub stack: StackMemory,
}

/// The bytes a Cortex-M thread switch saves on the thread's own stack: the extended exception
/// frame with the FPU context (26 words, ARMv7-M ARM B1.5.7) and the callee-saved registers the
/// switch code pushes (R4-R11 and S16-S31, 24 words): 200 bytes.
pub const SWITCH_CONTEXT: u32 = (26 + 24) * 4;

/// Stack memory of the system's ARM components in callback mode against stackful mode (the
/// figure for fitting 256-512 KB of SRAM).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StackMemory {
    /// ARM components measured.
    pub components: usize,
    /// Callback mode as the reference states it: one stack per component, sized by its deepest
    /// single callback (painted high-water mark): the sum over components.
    pub callback_per_component: u32,
    /// Callback mode with one stack per core (callbacks run to completion, so the components
    /// of a core can share it): the sum over cores of the deepest callback on the core.
    pub callback_per_core: u32,
    /// The most calls in flight at once (tasks started and not yet exited).
    pub in_flight: usize,
    /// Stackful mode: one stack per in-flight call, each at least as deep as the task's deepest
    /// point plus [`SWITCH_CONTEXT`]; the sum over the calls in flight at the worst moment.
    pub stackful: u32,
}

/// Where a stream's ring was and what went through it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStats {
    pub name: String,
    /// "host", "reader memory 0x..." (same core) or "OCRAM 0x..." (cross-core, MU doorbells).
    pub place: String,
    pub capacity: usize,
    pub bytes: u64,
    pub high_water: usize,
}

/// The Messaging Unit as the cross-core stream transport.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MuStats {
    /// Doorbells received (each an MU message read out of RR0 by the receiving core).
    pub doorbells: u64,
    /// From the stream operation that asked for the doorbell to the receiving core taking it,
    /// in cost units: min, max and total (mean = total / doorbells).
    pub latency_min: u64,
    pub latency_max: u64,
    pub latency_total: u64,
    /// Doorbells that waited in a sending side's queue because TR0 was still full.
    pub queued: u64,
}

pub struct Executor {
    pub hub: SharedHub,
    threads: Vec<Thread>,
    ready: Vec<VecDeque<Comp>>,
    clock: Vec<u64>,
    dispatched_on: Vec<u64>,
    /// Budget per callback (fuel or cycles).
    pub budget: u64,
    pub sabotage: Sabotage,
    dispatches: u64,
    /// The MU side each core sits on (CM7: side A = 0, CM4: side B = 1); None: no MU.
    pub mu_side: Vec<Option<usize>>,
    /// Cost units between a TR write and the peer seeing RF (0: the next instant).
    pub mu_latency: u64,
    mu: twin_machine::periph::mu::Mu,
    /// MU effects in flight, by (due time, sequence).
    in_flight: std::collections::BTreeMap<(u64, u64), twin_machine::periph::mu::Effect>,
    seq: u64,
    /// Doorbells a side still has to send (TR0 busy): (word, asked at).
    tx_queue: [VecDeque<(u32, u64)>; 2],
    /// When the doorbell now in a side's TR0 was asked for.
    tx_asked: [u64; 2],
    mu_stats: MuStats,
    /// The most tasks in flight at once, and which.
    in_flight_max: Vec<Comp>,
}

/// MU channel 0 carries the stream doorbells; RIE0 is CR bit 27, RF0/TE0 are SR bits 27/23
/// (periph/mu.rs, rt1176.md section 2).
const MU_TR0: u32 = 0x00;
const MU_RR0: u32 = 0x10;
const MU_SR: u32 = 0x20;
const MU_CR: u32 = 0x24;
const MU_RIE0: u32 = 1 << 27;
const MU_RF0: u32 = 1 << 27;
const MU_TE0: u32 = 1 << 23;

impl Executor {
    pub fn new(hub: SharedHub, cores: usize, budget: u64) -> Executor {
        Executor {
            hub,
            threads: Vec::new(),
            ready: vec![VecDeque::new(); cores],
            clock: vec![0; cores],
            dispatched_on: vec![0; cores],
            budget,
            sabotage: Sabotage::default(),
            dispatches: 0,
            mu_side: (0..cores).map(|c| (c < 2).then_some(c)).collect(),
            mu_latency: 0,
            mu: Default::default(),
            in_flight: Default::default(),
            seq: 0,
            tx_queue: Default::default(),
            tx_asked: [0; 2],
            mu_stats: MuStats::default(),
            in_flight_max: Vec::new(),
        }
    }

    /// Note the tasks in flight now (started, not exited or faulted).
    fn count_in_flight(&mut self) {
        let now: Vec<Comp> = (0..self.threads.len())
            .filter(|&t| {
                matches!(
                    self.threads[t].state,
                    State::Ready { .. } | State::Waiting(_)
                )
            })
            .collect();
        if now.len() > self.in_flight_max.len() {
            self.in_flight_max = now;
        }
    }

    fn stack_memory(&self) -> StackMemory {
        let arm: Vec<&ThreadStats> = self
            .threads
            .iter()
            .map(|t| &t.stats)
            .filter(|s| s.backend == "arm")
            .collect();
        let mut per_core: BTreeMap<usize, u32> = BTreeMap::new();
        for s in &arm {
            let e = per_core.entry(s.core).or_default();
            *e = (*e).max(s.stack_high_water);
        }
        let flying: Vec<&ThreadStats> = self
            .in_flight_max
            .iter()
            .map(|&t| &self.threads[t].stats)
            .filter(|s| s.backend == "arm")
            .collect();
        StackMemory {
            components: arm.len(),
            callback_per_component: arm.iter().map(|s| s.stack_high_water).sum(),
            callback_per_core: per_core.values().sum(),
            in_flight: flying.len(),
            stackful: flying
                .iter()
                .map(|s| s.stack_high_water + SWITCH_CONTEXT)
                .sum(),
        }
    }

    /// Put each wired stream's ring where the cores need it: in the reader's linear memory when
    /// writer and reader share a core, in OCRAM with MU doorbells across cores.
    fn place_streams(&mut self) -> Result<()> {
        let n = lock(&self.hub).streams.len();
        for id in 0..n {
            let (name, cap, ends) = {
                let hub = lock(&self.hub);
                let s = &hub.streams[id];
                let owner = |h: Option<u32>| h.and_then(|h| hub.handles.get(&h)).map(|x| x.owner);
                (
                    s.name.clone(),
                    s.capacity,
                    (owner(s.writer), owner(s.reader)),
                )
            };
            let (Some(w), Some(r)) = ends else { continue };
            if w == r {
                continue;
            }
            let (cw, cr) = (self.threads[w].stats.core, self.threads[r].stats.core);
            if cw == cr {
                let base = self.threads[r].instance.reserve(cap as u32).map_err(|e| {
                    Error::Usage(format!(
                        "stream {name}: its ring in {}'s memory: {e}",
                        self.threads[r].stats.name
                    ))
                })?;
                lock(&self.hub).place_in_reader(id, base);
            } else {
                let (Some(sw), Some(sr)) = (self.mu_side[cw], self.mu_side[cr]) else {
                    return Err(Error::Usage(format!(
                        "stream {name}: cores {cw} and {cr} share no Messaging Unit"
                    )));
                };
                debug_assert_ne!(sw, sr);
                lock(&self.hub)
                    .place_in_ocram(id, sw)
                    .map_err(Error::Usage)?;
            }
        }
        // Each side's MU driver enables the receive interrupt of channel 0.
        let mut fx = Vec::new();
        for side in 0..2 {
            self.mu
                .write(side, MU_CR, MU_RIE0, MU_RIE0, &mut fx)
                .expect("CR is modelled");
        }
        Ok(())
    }

    fn core_of_side(&self, side: usize) -> Option<usize> {
        self.mu_side.iter().position(|s| *s == Some(side))
    }

    /// After a call on `core`: store what the hub left for readers' memories and send the
    /// doorbells it asked for.
    fn settle(&mut self, core: usize) -> Result<()> {
        let (outbox, doorbells) = {
            let mut hub = lock(&self.hub);
            (
                std::mem::take(&mut hub.outbox),
                std::mem::take(&mut hub.doorbells),
            )
        };
        for (comp, addr, bytes) in outbox {
            self.threads[comp].instance.write_memory(addr, &bytes)?;
        }
        let now = self.clock[core];
        for (side, word) in doorbells {
            if self.mu.sides[side].sr & MU_TE0 == 0 || !self.tx_queue[side].is_empty() {
                self.mu_stats.queued += 1;
            }
            self.tx_queue[side].push_back((word, now));
            self.pump_tx(side, now);
        }
        Ok(())
    }

    /// Send queued doorbells while the side's TR0 is empty.
    fn pump_tx(&mut self, side: usize, now: u64) {
        while self.mu.sides[side].sr & MU_TE0 != 0 || self.sabotage.overwrite_busy_mu {
            let Some((word, asked)) = self.tx_queue[side].pop_front() else {
                break;
            };
            let mut fx = Vec::new();
            self.mu
                .write(side, MU_TR0, word, !0, &mut fx)
                .expect("TR0 is modelled");
            self.tx_asked[side] = asked;
            self.schedule(now, fx);
        }
    }

    fn schedule(&mut self, now: u64, fx: Vec<twin_machine::periph::mu::Effect>) {
        for e in fx {
            self.seq += 1;
            self.in_flight.insert((now + self.mu_latency, self.seq), e);
        }
    }

    /// The MU side an effect lands on.
    fn effect_side(e: &twin_machine::periph::mu::Effect) -> usize {
        use twin_machine::periph::mu::Effect::*;
        match *e {
            Deliver { to, .. }
            | TxEmpty { to, .. }
            | RaiseGip { to, .. }
            | ClearGir { to, .. }
            | Flags { to, .. } => to,
            Reset => 0,
        }
    }

    /// The earliest MU effect's core and when that core can take it.
    fn next_effect(&self) -> Option<(usize, u64)> {
        let (&key, e) = self.in_flight.first_key_value()?;
        let core = self.core_of_side(Self::effect_side(e))?;
        Some((core, key.0.max(self.clock[core])))
    }

    /// Land the MU effects due on `core` by `time` (callbacks run to completion, so the core
    /// takes its interrupt between callbacks: everything that arrived meanwhile is there at
    /// once); then its MU interrupt handler reads RR0 (which frees the sender's TR0) and hands
    /// the doorbell to the hub.
    fn land(&mut self, core: usize, time: u64) {
        let Some(side) = self.mu_side[core] else {
            return;
        };
        self.clock[core] = time;
        let due: Vec<(u64, u64)> = self
            .in_flight
            .iter()
            .filter(|(k, e)| k.0 <= time && Self::effect_side(e) == side)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let e = self.in_flight.remove(&key).expect("listed");
            self.mu.apply(e);
            if let twin_machine::periph::mu::Effect::TxEmpty { .. } = e {
                self.pump_tx(side, time);
            }
        }
        let mut fx = Vec::new();
        if self.mu.irq_level(side) {
            let sr = self.mu.read(side, MU_SR, &mut fx).expect("SR is modelled");
            if sr & MU_RF0 != 0 {
                let word = self
                    .mu
                    .read(side, MU_RR0, &mut fx)
                    .expect("RR0 is modelled");
                let latency = time - self.tx_asked[1 - side];
                let m = &mut self.mu_stats;
                m.latency_min = if m.doorbells == 0 {
                    latency
                } else {
                    m.latency_min.min(latency)
                };
                m.latency_max = m.latency_max.max(latency);
                m.latency_total += latency;
                m.doorbells += 1;
                lock(&self.hub).on_doorbell(word);
            }
        }
        self.schedule(time, fx);
    }

    /// `len` bytes of component `comp`'s linear memory at `addr`.
    pub fn read_memory(&mut self, comp: Comp, addr: u32, len: u32) -> Result<Vec<u8>> {
        self.threads
            .get_mut(comp)
            .ok_or_else(|| Error::Usage(format!("no component {comp}")))?
            .instance
            .read_memory(addr, len)
    }

    /// The id the next added component will have (its host functions need it first).
    pub fn next_id(&self) -> Comp {
        self.threads.len()
    }

    /// Add a component pinned to `core` whose task is `func(args)`.
    pub fn add(
        &mut self,
        name: &str,
        core: usize,
        instance: Box<dyn Instance>,
        func: &str,
        args: Vec<Val>,
    ) -> Result<Comp> {
        if core >= self.ready.len() {
            return Err(Error::Usage(format!(
                "component {name}: core {core} does not exist ({} cores)",
                self.ready.len()
            )));
        }
        let stats = ThreadStats {
            name: name.into(),
            core,
            backend: instance.backend().into(),
            cost_min: u64::MAX,
            ..ThreadStats::default()
        };
        self.threads.push(Thread {
            func: func.into(),
            args,
            instance,
            state: State::Faulted,
            stats,
        });
        Ok(self.threads.len() - 1)
    }

    fn account(&mut self, t: Comp, c: &Called) {
        let core = self.threads[t].stats.core;
        let s = &mut self.threads[t].stats;
        s.callbacks += 1;
        s.cost_min = s.cost_min.min(c.cost);
        s.cost_max = s.cost_max.max(c.cost);
        s.cost_total += c.cost;
        s.stack_high_water = s.stack_high_water.max(c.stack);
        self.clock[core] += c.cost;
        self.dispatched_on[core] += 1;
        self.dispatches += 1;
    }

    fn make_ready(&mut self, t: Comp, event: (u32, u32, u32)) {
        let core = self.threads[t].stats.core;
        self.threads[t].state = State::Ready {
            event,
            since: self.dispatched_on[core],
        };
        self.ready[core].push_back(t);
    }

    /// Act on what a lift or callback returned.
    fn after(&mut self, t: Comp, c: Called) {
        let budget = self.budget;
        let fault = |msg: String| Some(msg);
        let outcome = match c.result {
            Err(_) if c.over_budget => fault(format!(
                "a callback exceeded its budget of {budget} (bounded poll)"
            )),
            Err(trap) => fault(format!("trapped: {trap}")),
            Ok(v) => match v.first() {
                Some(Val::I32(p)) => match Code::decode(*p as i32) {
                    Err(e) => fault(e),
                    Ok(Code::Exit) => {
                        self.threads[t].state = State::Exited;
                        None
                    }
                    Ok(Code::Yield) => {
                        self.make_ready(t, (event::NONE, 0, 0));
                        None
                    }
                    Ok(code @ (Code::Wait(set) | Code::Poll(set))) => {
                        let poll = matches!(code, Code::Poll(_));
                        let owner = lock(&self.hub).sets.get(&set).copied();
                        if owner != Some(t) {
                            fault(format!("waits on set {set}, which is not its own"))
                        } else {
                            let ev = lock(&self.hub).take_event(t, set);
                            match (ev, poll) {
                                (Some(e), _) => self.make_ready(t, e),
                                (None, true) => self.make_ready(t, (event::NONE, 0, 0)),
                                (None, false) => self.threads[t].state = State::Waiting(set),
                            }
                            None
                        }
                    }
                },
                other => fault(format!("returned {other:?}, not a packed i32 code")),
            },
        };
        if let Some(msg) = outcome {
            self.threads[t].state = State::Faulted;
            self.threads[t].stats.fault = Some(msg);
        }
    }

    /// Wake waiting components whose sets got an event.
    fn deliver(&mut self) {
        for t in 0..self.threads.len() {
            if let State::Waiting(set) = self.threads[t].state {
                let ev = lock(&self.hub).take_event(t, set);
                if let Some(e) = ev {
                    self.make_ready(t, e);
                }
            }
        }
    }

    /// Start every task and run until all are done, a deadlock, or `max_dispatches` callbacks.
    pub fn run(&mut self, max_dispatches: u64) -> Result<Report> {
        lock(&self.hub).sabotage_lose_every = self.sabotage.lose_every_nth_wakeup;
        let budget = if self.sabotage.ignore_budget {
            BACKSTOP
        } else {
            self.budget
        };
        self.place_streams()?;
        for t in 0..self.threads.len() {
            let th = &mut self.threads[t];
            let export = abi::lift_export(&th.func);
            let c = th.instance.call(&export, &th.args.clone(), budget)?;
            self.account(t, &c);
            self.after(t, c);
            self.settle(self.threads[t].stats.core)?;
        }
        self.count_in_flight();
        let ending = loop {
            self.deliver();
            let core = (0..self.ready.len())
                .filter(|&c| !self.ready[c].is_empty())
                .min_by_key(|&c| (self.clock[c], c));
            // An interrupt due no later than the next callback's start is taken first.
            if let Some((at, time)) = self.next_effect() {
                if core.is_none_or(|c| time <= self.clock[c]) {
                    self.land(at, time);
                    continue;
                }
            }
            let Some(core) = core else {
                let waiting: Vec<(String, u32)> = self
                    .threads
                    .iter()
                    .filter_map(|t| match t.state {
                        State::Waiting(s) => Some((t.stats.name.clone(), s)),
                        _ => None,
                    })
                    .collect();
                break if waiting.is_empty() {
                    Ending::Done
                } else {
                    Ending::Deadlock(waiting)
                };
            };
            if self.dispatches >= max_dispatches {
                break Ending::Limit;
            }
            let t = if self.sabotage.lifo_ready_queue {
                self.ready[core].pop_back()
            } else {
                self.ready[core].pop_front()
            }
            .expect("non-empty");
            let State::Ready { event, since } = self.threads[t].state.clone() else {
                continue;
            };
            let waited = self.dispatched_on[core] - since;
            let th = &mut self.threads[t];
            th.stats.max_ready_wait = th.stats.max_ready_wait.max(waited);
            if event.0 != event::NONE {
                th.stats.events += 1;
            }
            let export = abi::callback_export(&th.func);
            let args = [Val::I32(event.0), Val::I32(event.1), Val::I32(event.2)];
            let c = th.instance.call(&export, &args, budget)?;
            self.account(t, &c);
            self.after(t, c);
            self.settle(core)?;
            self.count_in_flight();
        };
        let hub = lock(&self.hub);
        let undelivered = hub.wakeups.values().map(|w| w.latched - w.delivered).sum();
        let threads = self
            .threads
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut s = t.stats.clone();
                s.returned = hub.returned.get(&i).cloned();
                if s.callbacks == 0 {
                    s.cost_min = 0;
                }
                s
            })
            .collect();
        let streams = hub
            .streams
            .iter()
            .map(|s| StreamStats {
                name: s.name.clone(),
                place: match s.place {
                    Place::Host(_) => "host".into(),
                    Place::Reader { base } => format!("reader memory {base:#x}"),
                    Place::Ocram { base, .. } => format!("OCRAM {base:#010x}"),
                },
                capacity: s.capacity,
                bytes: s.bytes_through(),
                high_water: s.high_water,
            })
            .collect();
        Ok(Report {
            ending,
            dispatches: self.dispatches,
            threads,
            core_clock: self.clock.clone(),
            undelivered,
            streams,
            mu: self.mu_stats.clone(),
            stack: self.stack_memory(),
        })
    }
}

/// Instantiate `wasm` for component `comp` of `hub` in wasmtime.
pub fn wasmtime_instance(
    hub: &SharedHub,
    comp: Comp,
    wasm: &WasmModule,
) -> Result<Box<dyn Instance>> {
    let fns = intrinsics(hub, comp, &wasm.imports);
    Ok(Box::new(Wasmtime {
        reference: Reference::new(wasm, &fns)?,
        module: std::rc::Rc::new(wasm.clone()),
    }))
}

/// Link synth's object for `wasm` on `core` of a board of its own for component `comp`.
pub fn arm_instance(
    hub: &SharedHub,
    comp: Comp,
    wasm: &WasmModule,
    object: &RelObject,
    core: &str,
) -> Result<Box<dyn Instance>> {
    ArmBoard::new(Options::default().stack_bytes)?.instance(hub, comp, wasm, object, core)
}
