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

use super::abi::{self, event, Code};
use super::hub::Comp;
use super::{lock, SharedHub};
use crate::error::{Error, Result};
use crate::hosted::link::RelObject;
use crate::hosted::{Hosted, Options};
use crate::reference::{RefTrap, Reference};
use crate::wasm::{Val, WasmModule};

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
}

/// A component as synth's ARM code on a core of its own machine.
pub struct Arm {
    pub hosted: Hosted,
}

impl Instance for Arm {
    fn call(&mut self, export: &str, args: &[Val], budget: u64) -> Result<Called> {
        self.hosted.module.set_max_cycles(budget);
        let out = self.hosted.call(export, args)?;
        Ok(Called {
            over_budget: matches!(out.result, Err(crate::hosted::ArmTrap::Timeout { .. })),
            result: out.result.map_err(|t| t.to_string()),
            cost: out.cycles,
            stack: out.stack_bytes,
        })
    }
    fn backend(&self) -> &'static str {
        "arm"
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
}

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
        }
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
        for t in 0..self.threads.len() {
            let th = &mut self.threads[t];
            let export = abi::lift_export(&th.func);
            let c = th.instance.call(&export, &th.args.clone(), budget)?;
            self.account(t, &c);
            self.after(t, c);
        }
        let ending = loop {
            self.deliver();
            let core = (0..self.ready.len())
                .filter(|&c| !self.ready[c].is_empty())
                .min_by_key(|&c| (self.clock[c], c));
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
        Ok(Report {
            ending,
            dispatches: self.dispatches,
            threads,
            core_clock: self.clock.clone(),
            undelivered,
        })
    }
}

/// Instantiate `wasm` for component `comp` of `hub` in wasmtime.
pub fn wasmtime_instance(
    hub: &SharedHub,
    comp: Comp,
    wasm: &WasmModule,
) -> Result<Box<dyn Instance>> {
    let fns = super::intrinsics(hub, comp, &wasm.imports);
    Ok(Box::new(Wasmtime {
        reference: Reference::new(wasm, &fns)?,
        module: std::rc::Rc::new(wasm.clone()),
    }))
}

/// Link synth's object for `wasm` on `core` of a fresh board for component `comp`.
pub fn arm_instance(
    hub: &SharedHub,
    comp: Comp,
    wasm: &WasmModule,
    object: &RelObject,
    core: &str,
) -> Result<Box<dyn Instance>> {
    let fns = super::intrinsics(hub, comp, &wasm.imports);
    let hosted = Hosted::new(
        crate::board::Board::rt1176(),
        core,
        wasm.clone(),
        object,
        &fns,
        Options::default(),
    )?;
    Ok(Box::new(Arm { hosted }))
}
