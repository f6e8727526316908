//! A GDB remote server for the machine (`sim run --gdb`, docs/gdb.md): both cores as threads
//! (thread 1 = the board's first core, the CM7; 2 = the CM4), all-stop, on the `gdbstub` crate.
//!
//! Two threads: the machine stays on the thread that runs it (it is not `Send`); the server
//! runs on its own, holding the connection. When the machine stops for the debugger, its
//! runner hands the stop to the [`Port`] ([`Machine::debug_stop`]), which tells the server and
//! then runs the jobs the server sends (read registers, write memory, set a breakpoint, a
//! `monitor` command) until the server says how to go on. The runner asks the port's interrupt
//! flag between scheduling segments (firmware) or ticks (hosted scenarios): a new connection
//! and GDB's Ctrl-C set it. So the same server debugs firmware run by [`run`] and hosted code
//! called by a flight loop, which stops inside a call.
//!
//! - Registers: [`arch`]; memory through each thread's core's own map.
//! - Breakpoints (software and hardware alike: the code is never patched) and watchpoints are
//!   set on every core ([`crate::debug`]); the stop names the core that hit one.
//! - Stops: breakpoint (SIGTRAP), BKPT (SIGTRAP), watchpoint, step, a fault taken (SIGSEGV for
//!   bus faults, SIGILL for usage faults, at the handler's first instruction), semihosting
//!   exit (the inferior exits with its code), lockup or twin error (SIGABRT; the run cannot go
//!   on), the run's time limit (SIGXCPU), `monitor continue-for`'s limit (SIGTRAP), Ctrl-C
//!   (SIGINT).
//! - `monitor` commands: `time`, `irq`, `mu`, `symbols`, `continue-for DURATION`, `help`.

pub mod arch;
mod target;
mod wire;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use gdbstub::stub::{DisconnectReason, GdbStub};

use crate::machine::{DebugPort, Machine, Resume, Stop};
use crate::time::Ps;

pub use arch::{ArmV7M, Regs, TARGET_XML};
pub use wire::END_OF_RUN;
use wire::{Halted, ToSim};

/// The machine's end of the server: install it as the machine's debugger.
pub struct Port {
    to_gdb: Sender<Halted>,
    from_gdb: Receiver<ToSim>,
    interrupt: Arc<AtomicBool>,
    attached: Arc<AtomicBool>,
}

impl DebugPort for Port {
    fn stopped(&mut self, machine: &mut Machine, stop: &Stop, context: &str) -> Resume {
        let h = Halted {
            stop: stop.clone(),
            context: context.to_string(),
        };
        if self.to_gdb.send(h).is_err() {
            return Resume::Continue;
        }
        loop {
            match self.from_gdb.recv() {
                Ok(ToSim::Job(job)) => job(machine),
                Ok(ToSim::Resume(how)) => {
                    self.interrupt.store(false, Ordering::Relaxed);
                    return how;
                }
                // The server is gone: no debugger any more.
                Err(_) => return Resume::Continue,
            }
        }
    }

    fn interrupt(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    fn attached(&self) -> bool {
        self.attached.load(Ordering::Relaxed)
    }
}

/// Listen for GDB on `addr` (`PORT` or `ADDR:PORT`; 127.0.0.1 unless an address is given) and
/// serve it on a thread of its own; the machine's end, and the address listened on.
pub fn serve(addr: &str) -> crate::Result<(Port, String)> {
    let full = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("127.0.0.1:{addr}")
    };
    let listener = TcpListener::bind(&full)
        .map_err(|e| crate::Error::Usage(format!("--gdb {addr}: cannot listen on {full}: {e}")))?;
    let at = listener.local_addr().map(|a| a.to_string()).unwrap_or(full);
    let (to_gdb, from_sim) = mpsc::channel();
    let (to_sim, from_gdb) = mpsc::channel();
    let interrupt = Arc::new(AtomicBool::new(false));
    let attached = Arc::new(AtomicBool::new(false));
    let (i, a) = (interrupt.clone(), attached.clone());
    std::thread::Builder::new()
        .name("gdb".into())
        .spawn(move || server(listener, to_sim, from_sim, i, a))
        .map_err(|e| crate::Error::Usage(format!("starting the GDB server: {e}")))?;
    Ok((
        Port {
            to_gdb,
            from_gdb,
            interrupt,
            attached,
        },
        at,
    ))
}

/// The server thread: one GDB at a time, for as long as the machine runs.
fn server(
    listener: TcpListener,
    to_sim: Sender<ToSim>,
    mut from_sim: Receiver<Halted>,
    interrupt: Arc<AtomicBool>,
    attached: Arc<AtomicBool>,
) {
    while let Ok((conn, _)) = listener.accept() {
        let _ = conn.set_nodelay(true);
        // The machine stops at its next look (or has stopped already: held at reset).
        let first = match from_sim.try_recv() {
            Ok(h) => h,
            Err(TryRecvError::Empty) => {
                interrupt.store(true, Ordering::Relaxed);
                match from_sim.recv() {
                    Ok(h) => h,
                    Err(_) => return,
                }
            }
            Err(TryRecvError::Disconnected) => return,
        };
        attached.store(true, Ordering::Relaxed);
        eprintln!("sim: GDB connected; the run is stopped ({})", first.context);
        let mut target =
            match target::Target::new(to_sim.clone(), from_sim, interrupt.clone(), first) {
                Ok(t) => t,
                Err(_) => return,
            };
        let r = GdbStub::new(conn).run_blocking::<target::EventLoop>(&mut target);
        attached.store(false, Ordering::Relaxed);
        let how = match r {
            Ok(DisconnectReason::Kill) => {
                eprintln!("sim: GDB killed the run");
                Resume::Kill
            }
            Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {
                Resume::Continue
            }
            Ok(DisconnectReason::Disconnect) | Err(_) => {
                // Without a debugger the run goes on as if it had never had one.
                let _ = target.on(|m| {
                    for i in 0..m.core_count() {
                        crate::debug::clear(m.engine(i));
                    }
                    m.debug_until = None;
                });
                eprintln!("sim: GDB detached; the run goes on");
                Resume::Continue
            }
        };
        target.release(how);
        if how == Resume::Kill {
            return;
        }
        from_sim = target.from_sim;
    }
}

/// Run firmware on `machine` for `limit` of virtual time with the GDB server `port`
/// installed: until GDB connects (at once with `wait`: both cores wait at reset), then as GDB
/// says ([`Machine::run_for`] serves its stops); when it detaches the run goes on to its end,
/// and another GDB may connect. The end of the run (exit, time limit, lockup) is GDB's stop
/// too, for as long as it stays. The stop the run ended with ([`Stop::Interrupted`] when GDB
/// killed it).
pub fn run(machine: &mut Machine, limit: Ps, port: Port, wait: bool) -> Stop {
    machine.debugger = Some(Box::new(port));
    let end = machine.now() + limit;
    if wait && machine.debug_stop(&Stop::Interrupted, "held at reset") == Resume::Kill {
        return Stop::Interrupted;
    }
    let stop = machine.run_for(end - machine.now());
    if stop == Stop::Interrupted {
        return stop;
    }
    let context = match &stop {
        Stop::Timeout => END_OF_RUN.to_string(),
        other => format!("{other:?}"),
    };
    match machine.debug_final(&stop, &context) {
        Resume::Kill => Stop::Interrupted,
        _ => stop,
    }
}
