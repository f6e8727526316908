//! A system of P3 components in a RON file (`sim p3 run FILE`): which components, on which core
//! and backend, what task each runs, and the streams that connect them. Checked before anything
//! runs; every violation names the components and the stream:
//!
//! - every stream has one writer and one reader, and each end is handed to exactly one argument
//!   (an end used twice would be used after its transfer);
//! - the element types the writer produces and the reader consumes are the same;
//! - every stream is bounded: a capacity of at least one element, a whole number of elements;
//! - the stream graph has no cycle (a cycle of bounded streams can deadlock).
//!
//! ```ron
//! System(
//!     name: "pipeline",
//!     cores: ["m7", "m4"],
//!     components: [
//!         Component(name: "producer", wasm: "targets/corpus/p3/producer.wat", core: "m7",
//!                   func: "produce", args: [Write("values"), I32(100)], outputs: {"values": "u32"}),
//!         Component(name: "consumer", wasm: "targets/corpus/p3/consumer.wat", core: "m4",
//!                   func: "consume", args: [Read("values")], inputs: {"values": "u32"}),
//!     ],
//!     streams: [Stream(name: "values", capacity: 8)],
//! )
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::executor::{wasmtime_instance, ArmBoard, Executor, Report};
use crate::hub::Hub;
use crate::intrinsics::{lock, SharedHub};
use twin_hosting::hosted::link::RelObject;
use twin_hosting::wasm::{Val, WasmModule};
use twin_machine::error::{Error, Result};

/// A task argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Arg {
    I32(i32),
    /// The readable end of a stream.
    Read(String),
    /// The writable end of a stream.
    Write(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ComponentBackend {
    #[default]
    Wasmtime,
    /// synth's ARM code on the component's core (compiled with the pinned synth unless
    /// `object` names one); components on one core share its memories.
    Arm,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub wasm: PathBuf,
    pub core: String,
    pub func: String,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub backend: ComponentBackend,
    /// The synth object of an `Arm` component (default: compile `wasm` with the pinned synth).
    #[serde(default)]
    pub object: Option<PathBuf>,
    /// A WIT file declaring the task `func`: its `stream<T>` parameters give the element types
    /// of the streams it reads (its `Read` arguments, in order), a `stream<U>` result the type
    /// of the one it writes.
    #[serde(default)]
    pub wit: Option<PathBuf>,
    /// The WIT interface holding `func` (default: any interface of the file's package).
    #[serde(default)]
    pub interface: Option<String>,
    /// Element type of each stream it reads (WIT type names: u8, u32, f32, nav-state...).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Element type of each stream it writes.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    pub name: String,
    /// Bytes of buffer.
    pub capacity: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub name: String,
    pub cores: Vec<String>,
    /// Fuel (wasmtime) per callback.
    #[serde(default = "default_budget")]
    pub budget: u64,
    #[serde(default = "default_dispatches")]
    pub max_dispatches: u64,
    /// Cost units between an MU transmit and the receiving side seeing it (default 0).
    #[serde(default)]
    pub mu_latency: u64,
    /// Stack bytes of each ARM component (callback mode: one stack per component).
    #[serde(default = "default_stack")]
    pub stack: u32,
    pub components: Vec<Component>,
    #[serde(default)]
    pub streams: Vec<Stream>,
    /// Element sizes learnt from WIT files (canonical ABI), by type name.
    #[serde(skip)]
    pub wit_sizes: BTreeMap<String, usize>,
}

fn default_budget() -> u64 {
    1_000_000
}

fn default_dispatches() -> u64 {
    1_000_000
}

fn default_stack() -> u32 {
    4096
}

/// The RT1176's cores and their Messaging Unit sides (CM7: MUA, CM4: MUB).
const CORES: [(&str, usize); 2] = [("m7", 0), ("m4", 1)];

/// The components (indices) holding each stream's ends, in argument order.
#[derive(Default)]
struct Holders<'a> {
    writers: BTreeMap<&'a str, Vec<usize>>,
    readers: BTreeMap<&'a str, Vec<usize>>,
}

impl Holders<'_> {
    fn writers(&self, stream: &str) -> &[usize] {
        self.writers.get(stream).map_or(&[], Vec::as_slice)
    }
    fn readers(&self, stream: &str) -> &[usize] {
        self.readers.get(stream).map_or(&[], Vec::as_slice)
    }
}

/// Size in bytes of a WIT element type the checks know, or None.
fn element_size(ty: &str) -> Option<usize> {
    Some(match ty {
        "u8" | "s8" | "bool" => 1,
        "u16" | "s16" => 2,
        "u32" | "s32" | "f32" | "char" => 4,
        "u64" | "s64" | "f64" => 8,
        "nav-state" => 64,
        // flight::records: 22 x f32 (accel, gyro, dt, GNSS, baro, mag).
        "sensor-frame" => 88,
        _ => return None,
    })
}

impl System {
    pub fn load(path: &Path) -> Result<System> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: file.clone(),
            source: e,
        })?;
        // Optional fields are written plainly (`wit: "x.wit"`, not `Some("x.wit")`).
        let s: System = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .map_err(|e| Error::Ron {
                file: file.clone(),
                line: e.position.line,
                column: e.position.col,
                message: e.code.to_string(),
            })?;
        let mut s = s;
        let dir = path.parent().unwrap_or(Path::new("."));
        s.read_wit(dir)
            .and_then(|()| s.validate())
            .map_err(|m| Error::Usage(format!("{file}: {m}")))?;
        Ok(s)
    }

    /// Element types from the components' WIT files (module doc of [`crate::wit`]); a type
    /// the system file also declares must agree with the WIT.
    pub fn read_wit(&mut self, dir: &Path) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        for c in &mut self.components {
            let Some(wit) = &c.wit else { continue };
            let path = dir.join(wit);
            let t = match crate::wit::task_streams(&path, c.interface.as_deref(), &c.func) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("component {}: {e}", c.name));
                    continue;
                }
            };
            let reads: Vec<&String> = c
                .args
                .iter()
                .filter_map(|a| match a {
                    Arg::Read(s) => Some(s),
                    _ => None,
                })
                .collect();
            let writes: Vec<&String> = c
                .args
                .iter()
                .filter_map(|a| match a {
                    Arg::Write(s) => Some(s),
                    _ => None,
                })
                .collect();
            if reads.len() != t.reads.len() || writes.len() != usize::from(t.writes.is_some()) {
                problems.push(format!(
                    "component {}: {} reads {} and writes {} stream(s) in its WIT, but is handed {} readable and {} writable end(s)",
                    c.name,
                    c.func,
                    t.reads.len(),
                    usize::from(t.writes.is_some()),
                    reads.len(),
                    writes.len()
                ));
                continue;
            }
            let pairs = reads
                .iter()
                .zip(t.reads.iter().map(|r| &r.1))
                .map(|(s, e)| (true, *s, e))
                .chain(writes.iter().zip(&t.writes).map(|(s, e)| (false, *s, e)));
            for (read, stream, e) in pairs {
                self.wit_sizes.insert(e.name.clone(), e.size);
                let declared = if read { &mut c.inputs } else { &mut c.outputs };
                match declared.get(stream) {
                    Some(d) if *d != e.name => problems.push(format!(
                        "component {}: stream {stream} is declared {d} but its WIT says {}",
                        c.name, e.name
                    )),
                    _ => {
                        declared.insert(stream.clone(), e.name.clone());
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// The static checks (module doc).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        for (i, k) in self.cores.iter().enumerate() {
            if !CORES.iter().any(|(n, _)| n == k) {
                problems.push(format!("core {k:?} is not a core of the RT1176 (m7, m4)"));
            }
            if self.cores[..i].contains(k) {
                problems.push(format!("core {k:?} is listed twice"));
            }
        }
        for c in &self.components {
            if c.backend == ComponentBackend::Arm {
                if let Some(Arg::Read(st) | Arg::Write(st)) = c
                    .args
                    .iter()
                    .find(|a| matches!(a, Arg::Read(_) | Arg::Write(_)))
                {
                    problems.push(format!(
                        "component {}: an Arm component cannot hold stream {st} (synth 0.89 declines the pulseengine:async stream intrinsics); run it on Wasmtime",
                        c.name
                    ));
                }
            }
            if !self.cores.contains(&c.core) {
                problems.push(format!(
                    "component {}: core {:?} is not one of {:?}",
                    c.name, c.core, self.cores
                ));
            }
        }
        let holders = self.holders();
        let name = |i: &usize| self.components[*i].name.as_str();
        for s in &self.streams {
            let (w, r) = (holders.writers(&s.name), holders.readers(&s.name));
            for (end, held) in [("writable", w), ("readable", r)] {
                match held.len() {
                    1 => {}
                    0 => problems.push(format!("stream {}: no component holds its {end} end", s.name)),
                    _ => problems.push(format!(
                        "stream {}: its {end} end is handed to {} (a second use would be a use after transfer)",
                        s.name,
                        held.iter().map(name).collect::<Vec<_>>().join(" and ")
                    )),
                }
            }
            let (Some(&wc), Some(&rc)) = (w.first(), r.first()) else {
                continue;
            };
            let (wc, rc) = (&self.components[wc], &self.components[rc]);
            let (wt, rt) = (wc.outputs.get(&s.name), rc.inputs.get(&s.name));
            match (wt, rt) {
                (Some(wt), Some(rt)) if wt != rt => problems.push(format!(
                    "stream {}: {} writes {wt} but {} reads {rt}",
                    s.name, wc.name, rc.name
                )),
                (None, _) => problems.push(format!(
                    "stream {}: writer {} does not declare its element type (outputs)",
                    s.name, wc.name
                )),
                (_, None) => problems.push(format!(
                    "stream {}: reader {} does not declare its element type (inputs)",
                    s.name, rc.name
                )),
                (Some(t), Some(_)) => match self.wit_sizes.get(t).copied().or_else(|| element_size(t)) {
                    None => problems.push(format!("stream {}: unknown element type {t}", s.name)),
                    Some(size) if s.capacity < size || s.capacity % size != 0 => {
                        problems.push(format!(
                            "stream {} ({} -> {}): capacity {} bytes is not a bounded whole number of {t} elements ({size} bytes each)",
                            s.name, wc.name, rc.name, s.capacity
                        ))
                    }
                    Some(_) => {}
                },
            }
        }
        for stream in holders.writers.keys().chain(holders.readers.keys()) {
            if !self.streams.iter().any(|s| s.name == *stream) {
                problems.push(format!(
                    "stream {stream} is used but not declared in streams"
                ));
            }
        }
        if let Some(cycle) = self.cycle(&holders) {
            problems.push(format!(
                "the stream graph has a cycle that can deadlock: {cycle}"
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            problems.sort();
            problems.dedup();
            Err(problems.join("; "))
        }
    }

    /// Which components (indices) hold each stream's writable and readable ends.
    fn holders(&self) -> Holders<'_> {
        let mut h = Holders::default();
        for (i, c) in self.components.iter().enumerate() {
            for a in &c.args {
                match a {
                    Arg::Read(s) => h.readers.entry(s).or_default().push(i),
                    Arg::Write(s) => h.writers.entry(s).or_default().push(i),
                    Arg::I32(_) => {}
                }
            }
        }
        h
    }

    /// A cycle in the component graph (edges writer -> reader), as "a -[s]-> b -[t]-> a".
    fn cycle(&self, holders: &Holders<'_>) -> Option<String> {
        let mut edges: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for s in &self.streams {
            if let (Some(&w), Some(&r)) = (
                holders.writers(&s.name).first(),
                holders.readers(&s.name).first(),
            ) {
                edges
                    .entry(&self.components[w].name)
                    .or_default()
                    .push((s.name.as_str(), &self.components[r].name));
            }
        }
        // Depth-first search with colours: 1 on the path, 2 finished.
        fn visit<'a>(
            n: &'a str,
            edges: &BTreeMap<&'a str, Vec<(&'a str, &'a str)>>,
            colour: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<(&'a str, &'a str)>,
        ) -> Option<String> {
            colour.insert(n, 1);
            for &(s, m) in edges.get(n).map(|v| v.as_slice()).unwrap_or(&[]) {
                path.push((n, s));
                match colour.get(m).copied().unwrap_or(0) {
                    1 => {
                        let start = path.iter().position(|(c, _)| *c == m).unwrap_or(0);
                        let mut text = String::new();
                        for (c, s) in &path[start..] {
                            text.push_str(&format!("{c} -[{s}]-> "));
                        }
                        text.push_str(m);
                        return Some(text);
                    }
                    0 => {
                        if let Some(t) = visit(m, edges, colour, path) {
                            return Some(t);
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
            colour.insert(n, 2);
            None
        }
        let mut colour = BTreeMap::new();
        for c in &self.components {
            if colour.get(c.name.as_str()).copied().unwrap_or(0) == 0 {
                if let Some(t) = visit(&c.name, &edges, &mut colour, &mut Vec::new()) {
                    return Some(t);
                }
            }
        }
        None
    }

    /// Instantiate and run; `root` resolves relative paths.
    pub fn run(&self, root: &Path) -> Result<Report> {
        // synth's objects for Arm components without `object`, one per (module, target), in a
        // directory of this run's own that goes when the run ends.
        let objects = std::env::temp_dir().join(format!("rt-twin-p3-{}", std::process::id()));
        let r = self.run_with(root, &objects);
        let _ = std::fs::remove_dir_all(&objects);
        r
    }

    fn run_with(&self, root: &Path, objects: &Path) -> Result<Report> {
        let hub: SharedHub = std::sync::Arc::new(std::sync::Mutex::new(Hub::new(
            crate::hub::DEFAULT_STREAM_CAPACITY,
        )));
        let mut ex = Executor::new(hub.clone(), self.cores.len(), self.budget);
        ex.mu_side = self
            .cores
            .iter()
            .map(|k| CORES.iter().find(|(n, _)| n == k).map(|c| c.1))
            .collect();
        ex.mu_latency = self.mu_latency;
        let mut board: Option<ArmBoard> = None;
        let mut compiled: BTreeMap<(PathBuf, &str), PathBuf> = BTreeMap::new();
        // Streams first: their handles are task arguments.
        let holders = self.holders();
        let mut ends: BTreeMap<(&str, bool), u32> = BTreeMap::new();
        for s in &self.streams {
            let (Some(&w), Some(&r)) = (
                holders.writers(&s.name).first(),
                holders.readers(&s.name).first(),
            ) else {
                return Err(Error::Usage(format!("stream {} is not wired", s.name)));
            };
            let (rh, wh) = lock(&hub).stream(&s.name, w, r, s.capacity);
            ends.insert((s.name.as_str(), true), rh);
            ends.insert((s.name.as_str(), false), wh);
        }
        for c in &self.components {
            // An absolute path replaces `root` in `join`.
            let path = root.join(&c.wasm);
            let wasm = WasmModule::load(&path)?;
            let core = self
                .cores
                .iter()
                .position(|k| *k == c.core)
                .expect("validated");
            let args = c
                .args
                .iter()
                .map(|a| match a {
                    Arg::I32(v) => Val::I32(*v as u32),
                    Arg::Read(s) => Val::I32(ends[&(s.as_str(), true)]),
                    Arg::Write(s) => Val::I32(ends[&(s.as_str(), false)]),
                })
                .collect();
            let inst = match c.backend {
                ComponentBackend::Wasmtime => wasmtime_instance(&hub, ex.next_id(), &wasm),
                ComponentBackend::Arm => {
                    let object = match &c.object {
                        Some(o) => root.join(o),
                        None => {
                            let target = twin_hosting::synth::default_target(&c.core);
                            match compiled.get(&(path.clone(), target)) {
                                Some(out) => out.clone(),
                                None => {
                                    std::fs::create_dir_all(objects).map_err(|e| Error::Io {
                                        path: objects.display().to_string(),
                                        source: e,
                                    })?;
                                    let out =
                                        objects.join(format!("{}-{target}.o", compiled.len()));
                                    twin_hosting::synth::compile(&path, target, "software", &out)?;
                                    compiled.insert((path.clone(), target), out.clone());
                                    out
                                }
                            }
                        }
                    };
                    let bytes = std::fs::read(&object).map_err(|e| Error::Io {
                        path: object.display().to_string(),
                        source: e,
                    })?;
                    let obj = RelObject::parse(&bytes, &object.display().to_string())?;
                    let b = match &mut board {
                        Some(b) => b,
                        None => board.insert(ArmBoard::new(self.stack)?),
                    };
                    b.instance(&hub, ex.next_id(), &wasm, &obj, &c.core)
                }
            }
            .map_err(|e| Error::Usage(format!("component {}: {e}", c.name)))?;
            ex.add(&c.name, core, inst, &c.func, args)?;
        }
        ex.run(self.max_dispatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"System(
        name: "p", cores: ["m7", "m4"],
        components: [
            Component(name: "producer", wasm: "p.wat", core: "m7", func: "produce",
                      args: [Write("values"), I32(100)], outputs: {"values": "u32"}),
            Component(name: "consumer", wasm: "c.wat", core: "m4", func: "consume",
                      args: [Read("values")], inputs: {"values": "u32"}),
        ],
        streams: [Stream(name: "values", capacity: 8)],
    )"#;

    fn parse(text: &str) -> System {
        ron::Options::default().from_str(text).unwrap()
    }

    #[test]
    fn a_wired_pipeline_validates() {
        parse(PIPELINE).validate().unwrap();
    }

    #[test]
    fn each_violation_names_the_components_and_the_stream() {
        let e = parse(&PIPELINE.replace(
            r#"inputs: {"values": "u32"}"#,
            r#"inputs: {"values": "f32"}"#,
        ))
        .validate()
        .unwrap_err();
        assert!(
            e.contains("stream values: producer writes u32 but consumer reads f32"),
            "{e}"
        );
        let e = parse(&PIPELINE.replace("capacity: 8", "capacity: 0"))
            .validate()
            .unwrap_err();
        assert!(
            e.contains("stream values (producer -> consumer): capacity 0 bytes"),
            "{e}"
        );
        let e = parse(&PIPELINE.replace("capacity: 8", "capacity: 6"))
            .validate()
            .unwrap_err();
        assert!(e.contains("not a bounded whole number"), "{e}");
        let e = parse(&PIPELINE.replace(
            r#"args: [Read("values")]"#,
            r#"args: [Read("values"), Read("values")]"#,
        ))
        .validate()
        .unwrap_err();
        assert!(
            e.contains("readable end is handed to consumer and consumer"),
            "{e}"
        );
        let e = parse(&PIPELINE.replace("core: \"m4\"", "core: \"m33\""))
            .validate()
            .unwrap_err();
        assert!(e.contains("component consumer: core \"m33\""), "{e}");
    }

    #[test]
    fn a_cycle_of_streams_is_refused_with_its_path() {
        let cyc = PIPELINE
            .replace(
                r#"args: [Read("values")], inputs: {"values": "u32"}"#,
                r#"args: [Read("values"), Write("back")], inputs: {"values": "u32"}, outputs: {"back": "u32"}"#,
            )
            .replace(
                r#"args: [Write("values"), I32(100)], outputs: {"values": "u32"}"#,
                r#"args: [Write("values"), I32(100), Read("back")], outputs: {"values": "u32"}, inputs: {"back": "u32"}"#,
            )
            .replace(
                r#"streams: [Stream(name: "values", capacity: 8)]"#,
                r#"streams: [Stream(name: "values", capacity: 8), Stream(name: "back", capacity: 4)]"#,
            );
        let e = parse(&cyc).validate().unwrap_err();
        assert!(
            e.contains("cycle that can deadlock: producer -[values]-> consumer -[back]-> producer"),
            "{e}"
        );
    }
}
