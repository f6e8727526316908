//! The closed loop in hosted mode (docs/flight.md, ../shared/ARCHITECTURE.md): the estimator
//! runs on the CM4 and the controller on the CM7, as synth's ARM code on the emulated cores;
//! NavState crosses from one to the other through shared OCRAM and the Messaging Unit.
//!
//! One control tick k (period `dt`, starting at t_k):
//! 1. the sensors sample the true state;
//! 2. the CM4 runtime writes the sensor frame into the estimator's memory and calls
//!    `ekf#estimate`; it costs the CM4 its cycles (2.5 ns each): done at t4;
//! 3. at t4 the CM4 runtime writes NavState (64 bytes) and a sequence word into the mailbox in
//!    OCRAM2, the ready word last, and writes the sequence number to MUB TR0;
//! 4. the MU delivers at the next lockstep sync point (a multiple of the quantum): the CM7's
//!    MUA RF0 sets and its IRQ 118 pends (the CM7 runtime armed RIE0 and the NVIC line);
//! 5. the CM7 runtime takes the interrupt there: reads MUA RR0 (clearing RF0), checks the ready
//!    word and sequence, reads NavState, calls `controller#step` (1 ns per cycle): done at t7;
//! 6. the motor commands reach the vehicle at the first physics step starting at or after t7.
//!
//! A call that does not finish within the period is an overrun of that core.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::exc::FIRST_IRQ;
use crate::hosted::Module;
use crate::machine::Machine;
use crate::time::{Ps, PS_PER_S};
use crate::vehicle::sensors::{Frame, Sensors};
use crate::vehicle::wind::Wind;
use crate::vehicle::{step, Params, State};
use crate::wasm::Val;

/// The NavState mailbox: OCRAM2, where the NXP SDK keeps its rpmsg shared memory (rt1176.md
/// section 1.1). Layout: ready word, sequence, then 16 x f32.
pub const MAILBOX: u32 = 0x202C_0000;
const READY: u32 = 0x4E41_5653; // "NAVS"
const MU_IRQ: u32 = 118;

pub const ESTIMATE: &str = "pulseengine:falcon-cascade/ekf@0.10.0#estimate";
pub const EKF_INIT: &str = "pulseengine:falcon-cascade/ekf@0.10.0#init";
pub const STEP: &str = "pulseengine:falcon-cascade/controller@0.10.0#step";

/// What one tick did (a row of the trace).
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub t: f64,
    pub position: [f64; 3],
    pub velocity: [f64; 3],
    /// Roll, pitch, yaw (rad).
    pub attitude: [f64; 3],
    pub nav: [f32; 16],
    pub motors: [f32; 4],
    pub m4_cycles: u64,
    pub m7_cycles: u64,
    /// From the CM4's MU write to the CM7 taking the interrupt.
    pub mu_latency_ns: u64,
    pub overrun_m4: bool,
    pub overrun_m7: bool,
}

pub struct HostedLoop {
    pub machine: Machine,
    estimator: Module,
    controller: Module,
    est_in: u32,
    ctl_in: u32,
    m4: usize,
    m7: usize,
    mua: u32,
    mub: u32,
    pub params: Params,
    pub state: State,
    pub sensors: Sensors,
    pub wind: Wind,
    pub dt: f64,
    pub waypoint: [f32; 3],
    quantum: Ps,
    tick: u64,
    seq: u32,
    /// The controller's latest commands, and those the vehicle is flying with.
    motors: [f32; 4],
    applied: [f32; 4],
}

/// The pointer an export returned, or an error naming the export (and the tick) when it
/// trapped or returned something else.
fn returned_ptr(out: &crate::hosted::CallOutcome, what: &str, tick: u64) -> Result<u32> {
    match &out.result {
        Ok(v) => match v.first() {
            Some(Val::I32(p)) => Ok(*p),
            _ => Err(Error::Usage(format!(
                "{what} returned no pointer at tick {tick}"
            ))),
        },
        Err(t) => Err(Error::Usage(format!("{what} trapped at tick {tick}: {t}"))),
    }
}

fn bytes_of(words: &[f32]) -> Vec<u8> {
    words.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats_at(mem: &[u8], at: u32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let o = at as usize + 4 * i;
            f32::from_le_bytes(mem[o..o + 4].try_into().expect("4 bytes"))
        })
        .collect()
}

impl HostedLoop {
    /// `estimator` on the CM4 and `controller` on the CM7 of `machine` (both linked from the
    /// flight module's synth objects).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut machine: Machine,
        mut estimator: Module,
        mut controller: Module,
        params: Params,
        state: State,
        sensors: Sensors,
        wind: Wind,
        dt: f64,
        waypoint: [f32; 3],
    ) -> Result<HostedLoop> {
        let m4 = estimator.core;
        let m7 = controller.core;
        let base = |name: &str| {
            let soc = machine.soc.borrow();
            soc.periph_base(name)
                .ok_or_else(|| Error::Usage(format!("the board has no {name}")))
        };
        let (mua, mub) = (base("MUA")?, base("MUB")?);
        let alloc = [Val::I32(0), Val::I32(0), Val::I32(4), Val::I32(96)];
        let ptr = |m: &mut Module, machine: &mut Machine| -> Result<u32> {
            returned_ptr(&m.call(machine, "cabi_realloc", &alloc)?, "cabi_realloc", 0)
        };
        let est_in = ptr(&mut estimator, &mut machine)?;
        let ctl_in = ptr(&mut controller, &mut machine)?;
        // The estimator starts from the vehicle's initial state.
        let q = state.q;
        let init: [f32; 16] = flight::NavState {
            q: [q.w as f32, q.x as f32, q.y as f32, q.z as f32],
            p: state.p.as_vec3().to_array(),
            v: state.v.as_vec3().to_array(),
            bg: [0.0; 3],
            ba: [0.0; 3],
        }
        .to_words();
        estimator.write_memory(&mut machine, est_in, &bytes_of(&init))?;
        if let Err(t) = estimator
            .call(&mut machine, EKF_INIT, &[Val::I32(est_in)])?
            .result
        {
            return Err(Error::Usage(format!("ekf#init trapped: {t}")));
        }
        // The CM7 runtime arms the MU receive interrupt: MUA CR.RIE0 and NVIC line 118.
        {
            let mut soc = machine.soc.borrow_mut();
            soc.periph_write(m7, mua + 0x24, 4, 1 << 27, 0)
                .map_err(|e| Error::Usage(e.to_string()))?;
            soc.cores[m7].scs.exc.enabled[(FIRST_IRQ + MU_IRQ) as usize] = true;
        }
        let quantum = crate::machine::DEFAULT_QUANTUM;
        Ok(HostedLoop {
            machine,
            estimator,
            controller,
            est_in,
            ctl_in,
            m4,
            m7,
            mua,
            mub,
            params,
            state,
            sensors,
            wind,
            dt,
            waypoint,
            quantum,
            tick: 0,
            seq: 0,
            motors: [0.0; 4],
            applied: [0.0; 4],
        })
    }

    fn sensor_record(f: &Frame, dt: f64) -> [f32; 22] {
        let v3 = |a: [f64; 3]| [a[0] as f32, a[1] as f32, a[2] as f32];
        let mut r = [0.0f32; 22];
        r[0..3].copy_from_slice(&v3(f.accel));
        r[3..6].copy_from_slice(&v3(f.gyro));
        r[6] = dt as f32;
        if let Some(g) = &f.gnss {
            r[7] = 1.0;
            r[8..11].copy_from_slice(&v3(g.position));
            r[11..14].copy_from_slice(&v3(g.velocity));
        }
        if let Some(a) = f.baro_alt {
            r[14] = 1.0;
            r[15] = a as f32;
        }
        if let Some(m) = f.mag {
            r[16] = 1.0;
            r[17..20].copy_from_slice(&v3(m));
        }
        r
    }

    /// Run one control tick; returns its trace row.
    pub fn step(&mut self) -> Result<Tick> {
        let period = (self.dt * PS_PER_S as f64).round() as Ps;
        let t_k = self.tick * period;
        let frame = self.sensors.sample(self.tick, self.dt, &self.state);
        let machine = &mut self.machine;

        // CM4: estimator.
        let rec = Self::sensor_record(&frame, self.dt);
        self.estimator
            .write_memory(machine, self.est_in, &bytes_of(&rec))?;
        let est = self
            .estimator
            .call(machine, ESTIMATE, &[Val::I32(self.est_in)])?;
        let ret = returned_ptr(&est, "ekf#estimate", self.tick)?;
        let ps4 = machine.soc.borrow().ps_per_cycle(self.m4);
        let t4 = t_k + est.cycles * ps4;
        let mem = self.estimator.memory(machine);
        let nav: Vec<f32> = floats_at(&mem, ret, 16);

        // CM4 runtime: mailbox (ready word last), then the MU doorbell.
        self.seq = self.seq.wrapping_add(1);
        {
            let uc = machine.engine(self.m4);
            let mut block = vec![0u8; 8];
            block[4..8].copy_from_slice(&self.seq.to_le_bytes());
            block.extend_from_slice(&bytes_of(&nav));
            uc.mem_write(u64::from(MAILBOX), &block)
                .and_then(|_| uc.mem_write(u64::from(MAILBOX), &READY.to_le_bytes()))
                .map_err(|e| Error::Usage(format!("mailbox write: {e:?}")))?;
        }
        let mut soc = machine.soc.borrow_mut();
        soc.periph_write(self.m4, self.mub, 4, self.seq, t4)
            .map_err(|e| Error::Usage(e.to_string()))?;
        // The next lockstep sync point delivers it.
        let t_sync = t4.div_ceil(self.quantum) * self.quantum;
        soc.fire_events(t_sync);
        soc.apply_cross_core();
        let irq = (FIRST_IRQ + MU_IRQ) as usize;
        let taken = soc.cores[self.m7].scs.exc.pending[irq];
        let mut m7_cycles = 0;
        let mut t7 = t_sync;
        if taken {
            // CM7 runtime, as its MU ISR: read RR0 (clears RF0 and the line), take the pending.
            let seq = soc
                .periph_read(self.m7, self.mua + 0x10, 4, t_sync)
                .map_err(|e| Error::Usage(e.to_string()))?;
            soc.cores[self.m7].scs.exc.pending[irq] = false;
            drop(soc);
            let mut head = [0u8; 72];
            machine
                .engine(self.m7)
                .mem_read(u64::from(MAILBOX), &mut head)
                .map_err(|e| Error::Usage(format!("mailbox read: {e:?}")))?;
            let ready = u32::from_le_bytes(head[0..4].try_into().expect("4"));
            let mail_seq = u32::from_le_bytes(head[4..8].try_into().expect("4"));
            if ready == READY && mail_seq == seq {
                let nav7 = floats_at(&head, 8, 16);
                let mut input = [0.0f32; 24];
                input[..16].copy_from_slice(&nav7);
                input[16..19].copy_from_slice(&[
                    frame.gyro[0] as f32,
                    frame.gyro[1] as f32,
                    frame.gyro[2] as f32,
                ]);
                input[19..22].copy_from_slice(&self.waypoint);
                input[22] = 1.0;
                input[23] = 0.0;
                self.controller
                    .write_memory(machine, self.ctl_in, &bytes_of(&input))?;
                let c = self
                    .controller
                    .call(machine, STEP, &[Val::I32(self.ctl_in)])?;
                let ret = returned_ptr(&c, "controller#step", self.tick)?;
                let mem = self.controller.memory(machine);
                let u = floats_at(&mem, ret, 4);
                self.motors.copy_from_slice(&u);
                m7_cycles = c.cycles;
                t7 = t_sync + c.cycles * machine.soc.borrow().ps_per_cycle(self.m7);
            }
        } else {
            drop(soc);
        }

        // The vehicle: the new commands from the first physics step at or after t7.
        let sub = (self.dt / self.params.dt).round() as u64;
        let step_ps = period / sub;
        for j in 0..sub {
            let t = t_k + j * step_ps;
            let u: Vec<f64> = if t >= t7 {
                self.motors.iter().map(|&x| f64::from(x)).collect()
            } else {
                self.applied.iter().map(|&x| f64::from(x)).collect()
            };
            let wind = self.wind.sample(t as f64 / PS_PER_S as f64, self.params.dt);
            step(&self.params, &mut self.state, &u, wind);
        }
        self.applied = self.motors;
        let (roll, pitch, yaw) = self.state.euler();
        let row = Tick {
            t: t_k as f64 / PS_PER_S as f64,
            position: self.state.p.to_array(),
            velocity: self.state.v.to_array(),
            attitude: [roll, pitch, yaw],
            nav: nav.try_into().unwrap_or([0.0; 16]),
            motors: self.motors,
            m4_cycles: est.cycles,
            m7_cycles,
            mu_latency_ns: (t_sync - t4) / 1000,
            overrun_m4: t4 - t_k > period,
            overrun_m7: t7 - t_sync > period,
        };
        self.tick += 1;
        Ok(row)
    }
}
