//! The worker thread: it owns the scenario [`Session`] (sessions are not `Send`, so it is built
//! here), takes commands from the UI and sends back what each tick produced, in batches, over
//! crossbeam channels. The UI thread never waits on it.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use twin_flight::flightloop::Tick;
use twin_flight::scenario::{LiveGate, Report};
use twin_flight::session::{CoreSnapshot, Overrides, Session, SessionInfo};
use twin_target::TargetSpec;

/// How fast the run goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `x` seconds of virtual time per second of wall time (1.0 is real time).
    Times(f64),
    /// As fast as the host can.
    Max,
}

#[derive(Debug, Clone)]
pub enum Command {
    /// Open a scenario file (replacing the current session), paused at tick 0.
    Open {
        file: PathBuf,
        overrides: Overrides,
        /// Target mode: the HIL firmware flies instead of the hosted components.
        target: Option<TargetSpec>,
    },
    Run,
    Pause,
    /// Run one tick (when paused).
    Step,
    /// Reopen the current scenario from tick 0 (running again if it was running).
    Restart,
    Speed(Speed),
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Update {
    /// A session is open (ticks from here on belong to it), with its gates before any tick.
    Opened {
        file: PathBuf,
        info: Box<SessionInfo>,
        gates: Vec<LiveGate>,
    },
    /// Ticks run since the last batch, each with both cores after it, and the gates now.
    Ticks {
        ticks: Vec<Tick>,
        cores: Vec<[CoreSnapshot; 2]>,
        gates: Vec<LiveGate>,
        /// (tick index, gate index) for each gate that failed in this batch.
        failed: Vec<(usize, usize)>,
    },
    Running(bool),
    /// The run is over: its report (and why it stopped early, if it did).
    Finished(Box<Report>),
    /// Opening or running failed; the message names the file and the cause.
    Error(String),
}

pub struct Worker {
    pub tx: Sender<Command>,
    pub rx: Receiver<Update>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the worker; `wake` is called after every update sent (the UI's repaint request).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> Worker {
        let (tx, commands) = crossbeam_channel::unbounded();
        let (updates, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("twin-session".into())
            .spawn(move || Loop::new(commands, updates, Box::new(wake)).run())
            .expect("spawn the session thread");
        Worker {
            tx,
            rx,
            thread: Some(thread),
        }
    }

    pub fn send(&self, c: Command) {
        // The worker only ends when this handle is dropped.
        let _ = self.tx.send(c);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the command channel ends the loop at its next check.
        let (dead, _) = crossbeam_channel::unbounded();
        self.tx = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A directory for this worker's synth objects, its own even when several apps (tests) share
/// the process; removed when the worker ends.
fn objects_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("rt-twin-ui-objects-{}-{n}", std::process::id()))
}

/// How often a running session sends its batch (about one UI frame).
const BATCH: Duration = Duration::from_millis(16);

/// Ticks, core snapshots and (tick, gate) failures not yet sent.
#[derive(Default)]
struct Batch {
    ticks: Vec<Tick>,
    cores: Vec<[CoreSnapshot; 2]>,
    failed: Vec<(usize, usize)>,
}

struct Loop {
    commands: Receiver<Command>,
    updates: Sender<Update>,
    wake: Box<dyn Fn() + Send>,
    session: Option<Session>,
    last_open: Option<(PathBuf, Overrides, Option<TargetSpec>)>,
    objects: PathBuf,
    running: bool,
    speed: Speed,
    /// Wall time and tick count when pacing (re)started.
    anchor: (Instant, u64),
    batch: Batch,
    sent_at: Instant,
}

impl Loop {
    fn new(
        commands: Receiver<Command>,
        updates: Sender<Update>,
        wake: Box<dyn Fn() + Send>,
    ) -> Loop {
        Loop {
            commands,
            updates,
            wake,
            session: None,
            last_open: None,
            objects: objects_dir(),
            running: false,
            speed: Speed::Times(1.0),
            anchor: (Instant::now(), 0),
            batch: Default::default(),
            sent_at: Instant::now(),
        }
    }

    fn send(&self, u: Update) {
        let _ = self.updates.send(u);
        (self.wake)();
    }

    fn active(&self) -> bool {
        self.running && self.session.as_ref().is_some_and(|s| !s.finished())
    }

    fn run(mut self) {
        loop {
            // Running: take whatever commands are waiting; otherwise wait for one.
            let cmd = if self.active() {
                match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match self.commands.recv() {
                    Ok(c) => Some(c),
                    Err(_) => break,
                }
            };
            if let Some(c) = cmd {
                self.handle(c);
                continue;
            }
            self.tick_paced();
        }
        let _ = std::fs::remove_dir_all(&self.objects);
    }

    fn handle(&mut self, c: Command) {
        match c {
            Command::Open {
                file,
                overrides,
                target,
            } => {
                self.last_open = Some((file, overrides, target));
                self.reopen(false);
            }
            Command::Restart => {
                let was = self.running;
                self.reopen(was);
            }
            Command::Run => {
                if self.session.is_some() {
                    self.set_running(true);
                }
            }
            Command::Pause => {
                self.set_running(false);
                self.flush();
            }
            Command::Step => {
                self.set_running(false);
                self.one_tick();
                self.flush();
            }
            Command::Speed(s) => {
                self.speed = s;
                self.re_anchor();
            }
        }
    }

    fn reopen(&mut self, run: bool) {
        self.flush();
        self.session = None;
        self.set_running(false);
        let Some((file, overrides, target)) = self.last_open.clone() else {
            return;
        };
        // Hosted, target mode, or full-system when the scenario names its firmware.
        let opened = overrides.load(&file).and_then(|(s, root)| {
            twin_target::open_session(s, &root, &self.objects, target.as_ref())
        });
        match opened {
            Ok(s) => {
                self.send(Update::Opened {
                    file,
                    info: Box::new(s.info().clone()),
                    gates: s.gates().to_vec(),
                });
                self.session = Some(s);
                self.set_running(run);
            }
            Err(e) => self.send(Update::Error(e.to_string())),
        }
    }

    fn set_running(&mut self, on: bool) {
        let on = on && self.session.is_some();
        if on != self.running {
            self.running = on;
            self.send(Update::Running(on));
        }
        self.re_anchor();
    }

    fn re_anchor(&mut self) {
        let ticks = self.session.as_ref().map_or(0, Session::ticks);
        self.anchor = (Instant::now(), ticks);
    }

    /// One tick if pacing allows it, else a short sleep.
    fn tick_paced(&mut self) {
        if let (Speed::Times(x), Some(s)) = (self.speed, &self.session) {
            let dt = s.info().dt;
            let virtual_allowed = self.anchor.0.elapsed().as_secs_f64() * x;
            let virtual_done = (s.ticks() - self.anchor.1) as f64 * dt;
            if virtual_done >= virtual_allowed {
                if self.sent_at.elapsed() >= BATCH {
                    self.flush();
                }
                let ahead = (virtual_done - virtual_allowed) / x;
                std::thread::sleep(Duration::from_secs_f64(ahead.clamp(0.0002, 0.005)));
                return;
            }
        }
        self.one_tick();
        if self.sent_at.elapsed() >= BATCH {
            self.flush();
        }
    }

    fn one_tick(&mut self) {
        let Some(s) = &mut self.session else { return };
        if !s.step() {
            return;
        }
        if let Some(t) = s.trace().last() {
            let k = s.trace().len() - 1;
            self.batch.ticks.push(t.clone());
            self.batch.cores.push(s.cores());
            self.batch
                .failed
                .extend(s.just_failed().iter().map(|&g| (k, g)));
        }
        if s.finished() {
            let report = s.report();
            self.flush();
            self.send(Update::Finished(Box::new(report)));
            self.set_running(false);
        }
    }

    fn flush(&mut self) {
        self.sent_at = Instant::now();
        let Some(s) = &self.session else { return };
        if self.batch.ticks.is_empty() {
            return;
        }
        let Batch {
            ticks,
            cores,
            failed,
        } = std::mem::take(&mut self.batch);
        let gates = s.gates().to_vec();
        self.send(Update::Ticks {
            ticks,
            cores,
            gates,
            failed,
        });
    }
}
