//! P3 async components in callback mode: the `pulseengine:async` host and the executor. Known
//! answers on wasmtime and on synth's ARM code, a stream pipeline under back-pressure, and the
//! executor's three properties, each with a run that breaks it on purpose to show the check
//! fails.

use std::sync::{Arc, Mutex};

use crate::common::*;
use twin_hosting::wasm::{Val, WasmModule};
use twin_p3::executor::{arm_instance, wasmtime_instance, Ending, Executor, Report};
use twin_p3::hub::Hub;
use twin_p3::SharedHub;

fn component(name: &str) -> WasmModule {
    WasmModule::load(&workspace().join("targets/corpus/p3").join(name)).unwrap()
}

fn executor(cores: usize, budget: u64) -> Executor {
    let hub: SharedHub = Arc::new(Mutex::new(Hub::new(64)));
    Executor::new(hub, cores, budget)
}

fn add_wasmtime(
    ex: &mut Executor,
    name: &str,
    core: usize,
    file: &str,
    func: &str,
    args: Vec<Val>,
) {
    let id = ex.next_id();
    let inst = wasmtime_instance(&ex.hub, id, &component(file)).unwrap();
    ex.add(name, core, inst, func, args).unwrap();
}

fn thread<'a>(r: &'a Report, name: &str) -> &'a twin_p3::executor::ThreadStats {
    r.threads.iter().find(|t| t.name == name).unwrap()
}

const KNOWN: [(&str, &str, u32); 3] = [
    ("fibonacci.wat", "fibonacci", 10),
    ("factorial.wat", "factorial", 5),
    ("collatz.wat", "collatz", 27),
];

#[test]
fn known_answers_in_wasmtime() {
    let mut ex = executor(2, 100_000);
    for (i, (file, func, n)) in KNOWN.iter().enumerate() {
        add_wasmtime(&mut ex, func, i % 2, file, func, vec![Val::I32(*n)]);
    }
    add_wasmtime(&mut ex, "prime", 1, "prime.wat", "prime", vec![Val::I32(7)]);
    add_wasmtime(
        &mut ex,
        "prime9",
        0,
        "prime.wat",
        "prime",
        vec![Val::I32(9)],
    );
    let r = ex.run(10_000).unwrap();
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "fibonacci").returned_i32(), Some(55));
    assert_eq!(thread(&r, "factorial").returned_i32(), Some(120));
    assert_eq!(thread(&r, "collatz").returned_i32(), Some(111));
    assert_eq!(
        thread(&r, "prime").returned_text().as_deref(),
        Some("7 is prime")
    );
    assert_eq!(
        thread(&r, "prime9").returned_text().as_deref(),
        Some("9 is not prime")
    );
    // One callback per step after the lift: fibonacci(10) takes 10 steps and the EXIT call.
    assert_eq!(thread(&r, "fibonacci").callbacks, 1 + 11);
    assert_eq!(thread(&r, "collatz").callbacks, 1 + 112);
    for t in &r.threads {
        assert!(t.fault.is_none(), "{}: {:?}", t.name, t.fault);
        assert!(t.cost_min > 0 && t.cost_max >= t.cost_min, "{t:?}");
    }
}

#[test]
fn known_answers_on_arm() {
    let mut ex = executor(1, 1_000_000);
    for (file, func, n) in KNOWN.iter().chain([("prime.wat", "prime", 7)].iter()) {
        let path = workspace().join("targets/corpus/p3").join(file);
        let obj_path = synth_object(&path, "cortex-m7dp");
        let obj = twin_hosting::hosted::link::RelObject::parse(
            &std::fs::read(&obj_path).unwrap(),
            obj_path.to_str().unwrap(),
        )
        .unwrap();
        let id = ex.next_id();
        let inst = arm_instance(&ex.hub, id, &component(file), &obj, "m7").unwrap();
        ex.add(func, 0, inst, func, vec![Val::I32(*n)]).unwrap();
    }
    let r = ex.run(10_000).unwrap();
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "fibonacci").returned_i32(), Some(55));
    assert_eq!(thread(&r, "factorial").returned_i32(), Some(120));
    assert_eq!(thread(&r, "collatz").returned_i32(), Some(111));
    assert_eq!(
        thread(&r, "prime").returned_text().as_deref(),
        Some("7 is prime")
    );
    for t in &r.threads {
        eprintln!(
            "{} on ARM (CM7): {} callbacks, {}..{} cycles (mean {:.0}), stack high-water {} B",
            t.name,
            t.callbacks,
            t.cost_min,
            t.cost_max,
            t.cost_mean(),
            t.stack_high_water
        );
        assert!(t.cost_min > 0 && t.stack_high_water > 0, "{t:?}");
    }
}

fn pipeline(capacity: usize, count: u32) -> Executor {
    pipeline_on(capacity, count, (0, 1))
}

/// Producer and consumer on `cores` (0 = CM7, MU side A; 1 = CM4, side B).
fn pipeline_on(capacity: usize, count: u32, cores: (usize, usize)) -> Executor {
    let mut ex = executor(2, 100_000);
    let (p, c) = (ex.next_id(), ex.next_id() + 1);
    let (r, w) = ex.hub.lock().unwrap().stream("values", p, c, capacity);
    add_wasmtime(
        &mut ex,
        "producer",
        cores.0,
        "producer.wat",
        "produce",
        vec![Val::I32(w), Val::I32(count)],
    );
    add_wasmtime(
        &mut ex,
        "consumer",
        cores.1,
        "consumer.wat",
        "consume",
        vec![Val::I32(r)],
    );
    ex
}

#[test]
fn a_stream_pipeline_under_back_pressure_loses_no_wakeup() {
    // 8 bytes of buffer for 100 four-byte values: the producer hits back-pressure over and over.
    let mut ex = pipeline(8, 100);
    let r = ex.run(100_000).unwrap();
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "producer").returned_i32(), Some(100));
    assert_eq!(thread(&r, "consumer").returned_i32(), Some(5050));
    // Across cores the ring is in OCRAM2 and every wake-up crossed the MU as a doorbell.
    assert_eq!(r.streams[0].place, "OCRAM 0x202c1000");
    assert!(r.mu.doorbells > 20, "{:?}", r.mu);
    let hub = ex.hub.lock().unwrap();
    assert_eq!(hub.streams[0].high_water, 8, "bounded by its capacity");
    assert_eq!(hub.streams[0].bytes_through(), 400);
    // The ring's header in OCRAM: 400 bytes written and read, nobody waiting; its data the last
    // two values, 99 and 100 (100 values through 2 slots: 99 landed in slot 0, 100 in slot 1).
    let head = hub.ocram_at(0x202C_1000, 24).unwrap();
    let word = |i: usize| u32::from_le_bytes(head[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!((word(0), word(1), word(2), word(3)), (400, 400, 0, 0));
    assert_eq!((word(4), word(5)), (99, 100));
    // Every interest (PENDING read, short write) got exactly one event, and every event arrived.
    for (comp, w) in &hub.wakeups {
        assert!(w.interests > 10, "component {comp} waited: {w:?}");
        assert_eq!(
            (w.latched, w.delivered),
            (w.interests, w.interests),
            "component {comp}"
        );
    }
    assert_eq!(r.undelivered, 0);
}

/// Two producers on the CM7 stream to two consumers on the CM4: both rings' doorbells share
/// MUA TR0, so one often has to wait for the other to be read out. A busy component on the
/// CM4 makes doorbells arrive while that core is in a long callback.
fn two_pipelines_across_the_mu(overwrite: bool) -> Report {
    let mut ex = executor(2, 100_000);
    ex.mu_latency = 300;
    ex.sabotage.overwrite_busy_mu = overwrite;
    for pair in 0..2 {
        let (p, c) = (ex.next_id(), ex.next_id() + 1);
        let (r, w) = ex.hub.lock().unwrap().stream("values", p, c, 8);
        let n = 50 + 50 * pair;
        add_wasmtime(
            &mut ex,
            &format!("producer{pair}"),
            0,
            "producer.wat",
            "produce",
            vec![Val::I32(w), Val::I32(n)],
        );
        add_wasmtime(
            &mut ex,
            &format!("consumer{pair}"),
            1,
            "consumer.wat",
            "consume",
            vec![Val::I32(r)],
        );
    }
    add_wasmtime(
        &mut ex,
        "busy",
        1,
        "busy.wat",
        "busy",
        vec![Val::I32(20), Val::I32(1000)],
    );
    ex.run(100_000).unwrap()
}

#[test]
fn mu_doorbells_queue_behind_a_full_transmit_register() {
    let r = two_pipelines_across_the_mu(false);
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "consumer0").returned_i32(), Some(1275));
    assert_eq!(thread(&r, "consumer1").returned_i32(), Some(5050));
    assert!(r.mu.queued > 0, "TR0 was busy at times: {:?}", r.mu);
    assert!(
        r.mu.latency_min >= 300 && r.mu.latency_max > r.mu.latency_min,
        "{:?}",
        r.mu
    );
    assert_eq!(r.undelivered, 0);
    eprintln!(
        "MU: {} doorbells, {} queued behind TR0, latency {}..{} (mean {:.0}) cost units",
        r.mu.doorbells,
        r.mu.queued,
        r.mu.latency_min,
        r.mu.latency_max,
        r.mu.latency_total as f64 / r.mu.doorbells as f64
    );
    // A driver that writes TR0 while it is still full overwrites a doorbell: that wake-up is
    // lost and the run ends with a consumer (or producer) waiting forever.
    let r = two_pipelines_across_the_mu(true);
    assert!(matches!(r.ending, Ending::Deadlock(_)), "{:?}", r.ending);
}

#[test]
fn a_same_core_stream_rings_in_the_readers_memory() {
    let mut ex = pipeline_on(8, 100, (1, 1));
    let r = ex.run(100_000).unwrap();
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "consumer").returned_i32(), Some(5050));
    // consumer.wat declares one page: the ring is the page the executor added after it.
    assert_eq!(r.streams[0].place, "reader memory 0x10000");
    assert_eq!(r.mu.doorbells, 0, "no MU traffic on one core");
    assert_eq!(r.undelivered, 0);
    // The bytes really went through the consumer's memory: its two slots hold 99 and 100.
    let ring = ex.read_memory(1, 0x10000, 8).unwrap();
    assert_eq!(ring, [99, 0, 0, 0, 100, 0, 0, 0]);
}

#[test]
fn a_lost_wakeup_is_detected() {
    // The property check above must be able to fail: drop every 5th latched event.
    let mut ex = pipeline(8, 100);
    ex.sabotage.lose_every_nth_wakeup = Some(5);
    let r = ex.run(100_000).unwrap();
    match &r.ending {
        Ending::Deadlock(waiting) => assert!(!waiting.is_empty()),
        other => panic!("a lost wake-up must leave someone waiting forever, got {other:?}"),
    }
    assert_eq!(thread(&r, "consumer").returned_i32(), None);
}

#[test]
fn bounded_poll_faults_the_runaway_callback_only() {
    let budget = 50_000;
    let run = |sabotage: bool| {
        let mut ex = executor(1, budget);
        ex.sabotage.ignore_budget = sabotage;
        add_wasmtime(&mut ex, "runaway", 0, "runaway.wat", "run", vec![]);
        add_wasmtime(
            &mut ex,
            "fibonacci",
            0,
            "fibonacci.wat",
            "fibonacci",
            vec![Val::I32(10)],
        );
        ex.run(10_000).unwrap()
    };
    let r = run(false);
    let bad = thread(&r, "runaway");
    assert!(
        bad.fault
            .as_deref()
            .unwrap()
            .contains("exceeded its budget of 50000"),
        "{bad:?}"
    );
    assert!(
        bad.cost_max <= budget,
        "stopped at the budget: {}",
        bad.cost_max
    );
    assert_eq!(
        thread(&r, "fibonacci").returned_i32(),
        Some(55),
        "the others go on"
    );
    // Without the budget the same runaway burns wasmtime's backstop: the check sees it.
    let r = run(true);
    assert!(thread(&r, "runaway").cost_max > budget);
}

#[test]
fn the_ready_queue_is_fair_under_a_saturating_producer() {
    let run = |lifo: bool| {
        let mut ex = executor(1, 100_000);
        ex.sabotage.lifo_ready_queue = lifo;
        for (file, func, n) in KNOWN {
            add_wasmtime(&mut ex, func, 0, file, func, vec![Val::I32(n)]);
        }
        // Always ready: 5000 YIELDs.
        add_wasmtime(
            &mut ex,
            "spinner",
            0,
            "spinner.wat",
            "spin",
            vec![Val::I32(5000)],
        );
        ex.run(20_000).unwrap()
    };
    let r = run(false);
    assert_eq!(r.ending, Ending::Done);
    let worst = r.threads.iter().map(|t| t.max_ready_wait).max().unwrap();
    eprintln!("FIFO: worst ready wait {worst} callbacks with 4 components on the core");
    assert!(
        worst <= 3,
        "a ready component waits at most for each other one: {worst}"
    );
    assert_eq!(thread(&r, "fibonacci").returned_i32(), Some(55));
    // LIFO lets the spinner run 5000 times in a row: the others starve behind it, and the same
    // check sees it.
    let r = run(true);
    let starved = thread(&r, "fibonacci").max_ready_wait;
    eprintln!("LIFO: fibonacci waited {starved} callbacks");
    assert!(starved >= 5000, "{starved}");
}

#[test]
fn sim_p3_run_validates_and_runs_a_system_file() {
    let (code, out, err) = sim_cli(&["p3", "run", "targets/corpus/p3/pipeline.ron"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("system pipeline: Done"), "{out}");
    let consumer = out
        .lines()
        .find(|l| l.trim_start().starts_with("consumer"))
        .unwrap();
    assert!(consumer.ends_with(" 5050"), "{consumer}");
    assert!(out.contains("undelivered events: 0"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace().join("targets/corpus/p3/pipeline.ron"))
        .unwrap()
        .replace(
            "producer.wat",
            &workspace()
                .join("targets/corpus/p3/producer.wat")
                .display()
                .to_string(),
        )
        .replace(
            "consumer.wat",
            &workspace()
                .join("targets/corpus/p3/consumer.wat")
                .display()
                .to_string(),
        );
    let bad = dir.path().join("mismatch.ron");
    std::fs::write(
        &bad,
        text.replace(
            r#"inputs: {"values": "u32"}"#,
            r#"inputs: {"values": "f32"}"#,
        ),
    )
    .unwrap();
    let (code, _, err) = sim_cli(&["p3", "run", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("mismatch.ron: stream values: producer writes u32 but consumer reads f32"),
        "{err}"
    );
    let broken = dir.path().join("broken.ron");
    std::fs::write(&broken, text.replace("cores:", "cores ")).unwrap();
    let (code, _, err) = sim_cli(&["p3", "run", broken.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("broken.ron:5:12: Expected colon"), "{err}");
    // A system whose consumer faults: exit 1, the fault in the table.
    let faulty = dir.path().join("faulty.ron");
    std::fs::write(&faulty, text.replace("budget: 100000", "budget: 50")).unwrap();
    let (code, out, _) = sim_cli(&["p3", "run", faulty.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAULT: a callback exceeded its budget of 50"),
        "{out}"
    );
}

#[test]
fn ten_arm_components_share_two_cores_and_give_the_stack_figure() {
    let (code, out, err) = sim_cli(&["p3", "run", "targets/corpus/p3/ten.ron", "--json"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let threads = r["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 10);
    // Known answers, computed independently: five components share each core's memories, so
    // any overlap of their code, globals, stacks or linear memories would corrupt one.
    let answers = [
        ("fib10", 55),
        ("fact5", 120),
        ("collatz27", 111),
        ("fib20", 6765),
        ("fact10", 3_628_800),
        ("collatz97", 118),
        ("fib15", 610),
    ];
    for t in threads {
        assert_eq!(t["backend"], "arm");
        assert!(t["fault"].is_null(), "{t}");
        assert!(t["stack_high_water"].as_u64().unwrap() > 0, "{t}");
    }
    let (_, text, _) = sim_cli(&["p3", "run", "targets/corpus/p3/ten.ron"]);
    for (name, v) in answers {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap();
        assert!(line.ends_with(&format!(" {v}")), "{line}");
    }
    for (name, v) in [
        ("prime97", "\"97 is prime\""),
        ("prime9", "\"9 is not prime\""),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap();
        assert!(line.ends_with(v), "{line}");
    }
    let st = &r["stack"];
    let n = |k: &str| st[k].as_u64().unwrap();
    assert_eq!(n("components"), 10);
    assert_eq!(
        n("in_flight"),
        10,
        "all ten tasks are in flight at the start"
    );
    assert!(n("callback_per_core") <= n("callback_per_component"));
    assert!(n("callback_per_component") < n("stackful"));
    eprintln!("stack memory, ten components: {st}");
    assert!(text.contains("stack memory of 10 ARM components"), "{text}");
}

#[test]
fn an_arm_component_holding_a_stream_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace().join("targets/corpus/p3/pipeline.ron"))
        .unwrap()
        .replace(
            r#"core: "m4", func: "consume","#,
            r#"core: "m4", func: "consume", backend: Arm,"#,
        )
        .replace(r#"cores: ["m7", "m4"]"#, r#"cores: ["m7", "m4", "m33"]"#);
    let f = dir.path().join("arm.ron");
    std::fs::write(&f, text).unwrap();
    let (code, _, err) = sim_cli(&["p3", "run", f.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("component consumer: an Arm component cannot hold stream values"),
        "{err}"
    );
    assert!(
        err.contains(r#"core "m33" is not a core of the RT1176"#),
        "{err}"
    );
}

/// Build the P3 flight components (sensor, estimator, controller) once.
fn p3_flight() -> &'static std::path::Path {
    static WASM: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    WASM.get_or_init(|| build_wasm_crate("targets/p3-flight", "p3_flight.wasm"))
}

/// The same flight chain without streams or an executor: frames from the P3 module's own
/// generator (in wasmtime), then the `flight` crate's `records::estimate` and
/// `records::step` compiled for the host, called in a plain loop. The controller's 24-byte
/// result: count, xor of the commands' bits, the last four commands.
fn flight_chain_without_streams(ticks: u32) -> Vec<u8> {
    use twin_hosting::reference::Reference;
    let gen = WasmModule::load(p3_flight()).unwrap();
    let hub: SharedHub = Arc::new(Mutex::new(Hub::new(64)));
    let mut gen = Reference::new(&gen, &twin_p3::intrinsics(&hub, 0, &gen.imports)).unwrap();
    let ptr = |v: &[Val]| match v {
        [Val::I32(p)] => *p,
        other => panic!("{other:?}"),
    };
    let mut ekf =
        flight::estimator::Estimator::new(flight::estimator::EstimatorConfig::default_sensors());
    let mut ctl =
        flight::controller::Controller::new(flight::controller::VehicleConfig::quad_x_default());
    let mut result = [0u32; 6];
    for k in 0..ticks {
        let f = ptr(&gen.call("frame_at", &[Val::I32(k)], 1).unwrap().unwrap());
        let frame: [f32; flight::records::SENSOR_FRAME_WORDS] =
            twin_hosting::backend::bytes_words(&gen.read_memory(f, 88).unwrap())
                .try_into()
                .unwrap();
        let nav = flight::records::estimate(&mut ekf, &frame);
        let mut input = [0.0f32; flight::records::STEP_INPUT_WORDS];
        input[..16].copy_from_slice(&nav); // body rates 0
        input[19..24].copy_from_slice(&[0.0, 0.0, -1.0, 1.0, 0.0]);
        let motors = flight::records::step(&mut ctl, &input);
        result[0] += 1;
        for (i, m) in motors.iter().enumerate() {
            let bits = m.to_bits();
            result[1] ^= bits.rotate_left(i as u32 * 8);
            result[2 + i] = bits;
        }
    }
    result.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn the_flight_stack_streams_navstate_across_the_mu_bit_exact() {
    p3_flight();
    let system =
        twin_p3::system::System::load(&workspace().join("targets/p3-flight/flight.ron")).unwrap();
    let r = system.run(&workspace().join("targets/p3-flight")).unwrap();
    assert_eq!(r.ending, Ending::Done);
    assert_eq!(thread(&r, "sensor").returned_i32(), Some(500));
    assert_eq!(thread(&r, "estimator").returned_i32(), Some(500));
    let got = thread(&r, "controller")
        .returned
        .clone()
        .unwrap()
        .1
        .unwrap();
    let want = flight_chain_without_streams(500);
    assert_eq!(u32::from_le_bytes(got[..4].try_into().unwrap()), 500);
    assert_eq!(
        got, want,
        "every NavState arrived, in order, bit for bit: the controller's outputs equal the chain run without streams"
    );
    // Frames stayed on the CM4 in the estimator's memory; NavState crossed through OCRAM2 and
    // the MU, one doorbell per wake-up, nothing lost.
    let place = |n: &str| r.streams.iter().find(|s| s.name == n).unwrap();
    assert!(
        place("frames").place.starts_with("reader memory"),
        "{:?}",
        r.streams
    );
    assert_eq!(place("nav").place, "OCRAM 0x202c1000");
    assert_eq!(place("nav").bytes, 500 * 64);
    assert!(place("nav").high_water <= 128);
    assert!(r.mu.doorbells > 0);
    assert_eq!(r.undelivered, 0);
    for t in &r.threads {
        eprintln!(
            "{} ({}): {} callbacks, fuel {}..{} (mean {:.0})",
            t.name,
            ["m7", "m4"][t.core],
            t.callbacks,
            t.cost_min,
            t.cost_max,
            t.cost_mean()
        );
    }
}

#[test]
fn known_answers_through_wasmtimes_own_component_model_async() {
    // The same core modules, wrapped as components and driven by wasmtime's callback loop
    // (no rt-twin executor or intrinsics): an independent second path for the answers.
    use twin_p3::native::{run, Returns};
    let p = |f: &str| workspace().join("targets/corpus/p3").join(f);
    let cases = [
        ("fibonacci.wat", "fibonacci", 10, Returns::U32, "55"),
        ("factorial.wat", "factorial", 5, Returns::U32, "120"),
        ("collatz.wat", "collatz", 27, Returns::U32, "111"),
        ("prime.wat", "prime", 7, Returns::String, "7 is prime"),
        ("prime.wat", "prime", 9, Returns::String, "9 is not prime"),
    ];
    for (file, func, n, returns, want) in cases {
        assert_eq!(
            run(&p(file), func, n, returns).unwrap(),
            want,
            "{func}({n})"
        );
    }
    // A function the module does not have: an error naming the file, not a panic.
    let e = run(&p("fibonacci.wat"), "nope", 1, Returns::U32).unwrap_err();
    assert!(e.to_string().contains("fibonacci.wat"), "{e}");
    assert!(e.to_string().contains("[async-lift]nope"), "{e}");
}

#[test]
fn stream_types_come_from_wit_and_mismatches_are_refused() {
    use twin_p3::system::System;
    let dir = tempfile::tempdir().unwrap();
    let wit = workspace().join("wit/flight.wit");
    let ron = std::fs::read_to_string(workspace().join("targets/p3-flight/flight.ron"))
        .unwrap()
        .replace("../../wit/flight.wit", wit.to_str().unwrap());
    let load = |name: &str, ron: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, ron).unwrap();
        System::load(&f)
    };
    // As shipped: the types are the WIT's records, with their canonical-ABI sizes.
    let s = load("ok.ron", &ron).unwrap();
    let ctl = s
        .components
        .iter()
        .find(|c| c.name == "controller")
        .unwrap();
    assert_eq!(ctl.inputs["nav"], "nav-state");
    assert_eq!(s.wit_sizes["sensor-frame"], 88);
    // A capacity that is not whole NavStates (64 B each, from the WIT).
    let e = load("cap.ron", &ron.replace("capacity: 128", "capacity: 100")).unwrap_err();
    assert!(
        e.to_string()
            .contains("capacity 100 bytes is not a bounded whole number of nav-state elements (64 bytes each)"),
        "{e}"
    );
    // A controller whose WIT reads sensor frames: the writer's and reader's types differ.
    let other = dir.path().join("other.wit");
    std::fs::write(
        &other,
        std::fs::read_to_string(&wit).unwrap().replace(
            "controller: async func(nav: stream<nav-state>)",
            "controller: async func(nav: stream<sensor-frame>)",
        ),
    )
    .unwrap();
    let text = ron.replacen(
        &format!(
            r#"core: "m7", func: "controller", args: [Read("nav")],
            wit: "{}""#,
            wit.display()
        ),
        &format!(
            r#"core: "m7", func: "controller", args: [Read("nav")],
            wit: "{}""#,
            other.display()
        ),
        1,
    );
    assert_ne!(text, ron, "the controller's WIT was swapped");
    let e = load("types.ron", &text).unwrap_err();
    assert!(
        e.to_string()
            .contains("stream nav: estimator writes nav-state but controller reads sensor-frame"),
        "{e}"
    );
    // A declared type that contradicts the WIT, and a task the WIT lacks.
    let e = load(
        "declared.ron",
        &ron.replace(
            r#"args: [Read("nav")],"#,
            r#"args: [Read("nav")], inputs: {"nav": "u32"},"#,
        ),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "component controller: stream nav is declared u32 but its WIT says nav-state"
        ),
        "{e}"
    );
    let e = load(
        "nofunc.ron",
        &ron.replace(r#"func: "sensor""#, r#"func: "gyro""#),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("no function gyro in interface stream-pipeline"),
        "{e}"
    );
}
