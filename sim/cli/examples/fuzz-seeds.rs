//! Writes the seed corpora in `fuzz/seeds/` (committed; small): valid inputs of each target's
//! kind, built from the project's own sources, for libFuzzer to mutate from. Run from the
//! repository root:
//!
//!     cargo run -p sim --example fuzz-seeds
//!
//! Needs the pinned synth (the object seeds are synth's output for the project's corpus
//! modules).

use std::path::{Path, PathBuf};

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn copy(target: &str, name: &str, from: &str) {
    put(
        target,
        name,
        &std::fs::read(from).unwrap_or_else(|e| panic!("{from}: {e}")),
    );
}

/// A frame per message, as the firmware and the host send them.
fn frames() -> Vec<(String, Vec<u8>)> {
    use hil_proto::{encode, Down, Up, MAX_FRAME, SENSOR_WORDS, STATE_WORDS};
    let mut out = Vec::new();
    let mut frame = |name: &str, n: Result<usize, hil_proto::FrameError>, buf: &[u8]| {
        out.push((name.to_string(), buf[..n.unwrap()].to_vec()));
    };
    let mut buf = [0u8; MAX_FRAME];
    let hello = Up::Hello {
        version: 1,
        cores: 2,
        flight_crc: 0x1234_5678,
        devices: false,
    };
    frame("up-hello", encode(&hello, &mut buf), &buf);
    let tick = Up::Tick {
        tick: 7,
        state: std::array::from_fn(|i| i as f32 * 0.5 - 1.0),
        motors: [0.5, 0.25, 0.75, 0.0],
        setpoints: std::array::from_fn(|i| i as f32 * -0.25),
        m4_cycles: 91_172,
        m7_cycles: 4_854,
        mu_latency_ns: 2_070,
    };
    frame("up-tick", encode(&tick, &mut buf), &buf);
    let start = Down::Start {
        period_us: 2000,
        state0: [0.0; STATE_WORDS],
    };
    frame("down-start", encode(&start, &mut buf), &buf);
    let sensor = Down::Sensor {
        tick: 3,
        frame: [0x3F80_0000; SENSOR_WORDS],
        waypoint: [0.0, 0.0, -5.0, 0.0],
    };
    frame("down-sensor", encode(&sensor, &mut buf), &buf);
    frame("down-stop", encode(&Down::Stop, &mut buf), &buf);
    out
}

/// A target's RAM as the hil_frame target reads its input: an RTT control block at offset 0
/// (one up channel at 0x100 of 0x200 bytes holding `up`, one down channel at 0x300 of 0x100).
fn rtt_ram(up: &[u8]) -> Vec<u8> {
    const BASE: u32 = 0x2000_0000;
    let mut ram = vec![0u8; 0x400];
    ram[..16].copy_from_slice(b"SEGGER RTT\0\0\0\0\0\0");
    let mut word = |at: usize, w: u32| ram[at..at + 4].copy_from_slice(&w.to_le_bytes());
    word(16, 1);
    word(20, 1);
    for (d, buf, size, wr) in [(24, 0x100, 0x200, up.len() as u32), (48, 0x300, 0x100, 0)] {
        word(d + 4, BASE + buf);
        word(d + 8, size);
        word(d + 12, wr);
    }
    ram[0x100..0x100 + up.len()].copy_from_slice(up);
    ram
}

/// An ARM ELF32 executable (EABI5, hard float) with one PT_LOAD per (address, bytes, flags),
/// entry at the first segment's reset vector; no sections (the loader needs none).
fn elf32(segments: &[(u32, Vec<u8>, u32)]) -> Vec<u8> {
    let (ehsize, phentsize) = (52u32, 32u32);
    let mut offset = ehsize + phentsize * segments.len() as u32;
    let entry = u32::from_le_bytes(segments[0].1[4..8].try_into().unwrap());
    let mut out = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let half = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_le_bytes());
    let word = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    half(&mut out, 2); // ET_EXEC
    half(&mut out, 40); // EM_ARM
    word(&mut out, 1);
    word(&mut out, entry);
    word(&mut out, ehsize); // e_phoff
    word(&mut out, 0); // e_shoff
    word(&mut out, 0x0500_0400); // EF_ARM_EABI_VER5 | EF_ARM_ABI_FLOAT_HARD
    half(&mut out, ehsize as u16);
    half(&mut out, phentsize as u16);
    half(&mut out, segments.len() as u16);
    half(&mut out, 40);
    half(&mut out, 0);
    half(&mut out, 0);
    for (addr, bytes, flags) in segments {
        word(&mut out, 1); // PT_LOAD
        word(&mut out, offset);
        word(&mut out, *addr);
        word(&mut out, *addr);
        word(&mut out, bytes.len() as u32);
        word(&mut out, bytes.len() as u32);
        word(&mut out, *flags);
        word(&mut out, 4);
        offset += bytes.len() as u32;
    }
    for (_, bytes, _) in segments {
        out.extend_from_slice(bytes);
    }
    out
}

fn synth_object(wat: &str, name: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join("rt-twin-fuzz-seeds");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm: PathBuf = dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm, wat::parse_file(wat).unwrap()).unwrap();
    let obj = dir.join(format!("{name}.o"));
    twin_hosting::synth::compile(&wasm, "cortex-m7dp", "software", &obj).unwrap();
    std::fs::read(obj).unwrap()
}

fn main() {
    // hil_frame: each frame alone, a stream of all of them, an RTT RAM image holding a stream.
    let frames = frames();
    let mut stream = Vec::new();
    for (name, bytes) in &frames {
        put("hil_frame", name, bytes);
        stream.extend_from_slice(bytes);
    }
    put("hil_frame", "stream", &stream);
    put("hil_frame", "rtt-ram", &rtt_ram(&stream));

    // board_ron, scenario_ron: the shipped files.
    copy("board_ron", "rt1176.ron", "targets/rt1176.ron");
    for f in [
        "stabilization",
        "rotor-failure",
        "heartbeat-loss",
        "hover-gusts",
    ] {
        copy(
            "scenario_ron",
            &format!("{f}.ron"),
            &format!("scenarios/{f}.ron"),
        );
    }
    copy(
        "scenario_ron",
        "sweep-hover-gusts.ron",
        "sweeps/hover-gusts.ron",
    );
    copy(
        "scenario_ron",
        "sil-stabilization.ron",
        "scenarios/sil/sil-stabilization.ron",
    );

    // trace: the header and three rows, one with events and unsampled sensors (NaN).
    let rows: Vec<twin_flight::flightloop::Tick> = (0..3)
        .map(|k| twin_flight::flightloop::Tick {
            t: k as f64 * 0.002,
            position: [0.0, 0.0, -5.0],
            attitude: [0.4 - k as f64 * 0.01, 0.0, 0.0],
            baro_alt: if k == 1 { f32::NAN } else { 5.0 },
            m4_cycles: 91_172,
            m7_cycles: 4_854,
            events: if k == 2 {
                vec!["IO MCU failsafe: motors cut at 0.004 s".into()]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    put(
        "trace",
        "three-rows.csv",
        twin_flight::trace::trace_csv(&rows).as_bytes(),
    );

    // wasm: the corpus modules.
    for f in ["smoke", "control", "memory", "float32"] {
        let bytes = wat::parse_file(format!("targets/corpus/{f}.wat")).unwrap();
        put("wasm", &format!("{f}.wasm"), &bytes);
    }

    // link: synth's object of the module the target links it against.
    put(
        "link",
        "smoke.o",
        &synth_object("targets/corpus/smoke.wat", "smoke"),
    );

    // elf: minimal executables written field by field (ELF32 header, program headers, the
    // loaded bytes): a vector table and a spin loop in ITCM, and the same with a data segment
    // in DTCM.
    let code = [0x2000_8000u32.to_le_bytes(), 0x0000_0009u32.to_le_bytes()].concat();
    let spin = [code.clone(), vec![0xfe, 0xe7, 0x00, 0xbf]].concat();
    put("elf", "itcm.elf", &elf32(&[(0x0000_0000, spin.clone(), 5)]));
    put(
        "elf",
        "itcm-dtcm.elf",
        &elf32(&[(0x0000_0000, spin, 5), (0x2000_0000, vec![1, 2, 3, 4], 6)]),
    );

    // thumb: short programs on both halves (Thumb-2 encodings from the ARMv7-M ARM).
    let programs: [(&str, &[u8]); 3] = [
        // movs r0, #1; adds r0, r0, r0; b .  (both cores)
        (
            "spin",
            &[
                0x01, 0x20, 0x00, 0x18, 0xfe, 0xe7, 0x01, 0x20, 0x00, 0x18, 0xfe, 0xe7,
            ],
        ),
        // movs r0, #0x18; bkpt 0xab (semihosting exit), on both halves
        ("exit", &[0x18, 0x20, 0xab, 0xbe, 0x18, 0x20, 0xab, 0xbe]),
        // ldr r0, =0x40c48000 via movw/movt; ldr r1, [r0]; b .  (MU registers)
        (
            "mu-read",
            &[
                0x48, 0xf2, 0x00, 0x00, 0xc4, 0xf2, 0xc4, 0x00, 0x01, 0x68, 0xfe, 0xe7, 0x48, 0xf2,
                0x00, 0x00, 0xc4, 0xf2, 0xc4, 0x00, 0x01, 0x68, 0xfe, 0xe7,
            ],
        ),
    ];
    for (name, code) in programs {
        put("thumb", name, code);
    }
    println!("seeds written to fuzz/seeds/");
}
