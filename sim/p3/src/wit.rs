//! Stream element types from WIT (`wit-parser`): a component's task `F` is looked up in a WIT
//! file; its `stream<T>` parameters are what it reads, a `stream<U>` result what it writes
//! (meld's lowering passes the returned stream's writable end in as an argument). Element
//! sizes are the canonical-ABI sizes on wasm32, computed by `wit-parser`.

use std::path::Path;

use wit_parser::{Resolve, SizeAlign, Type, TypeDefKind};

/// A stream element type: its WIT name and canonical-ABI size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub size: usize,
}

/// The streams of a task: (parameter name, element) per `stream<T>` parameter, in order, and
/// the element of a `stream<U>` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStreams {
    pub reads: Vec<(String, Element)>,
    pub writes: Option<Element>,
}

/// Find function `func` (in `interface` when given, else in any interface of the file's
/// package) and its streams.
pub fn task_streams(
    path: &Path,
    interface: Option<&str>,
    func: &str,
) -> Result<TaskStreams, String> {
    let mut resolve = Resolve::default();
    let pkg = resolve
        .push_file(path)
        .map_err(|e| format!("{}: {e:#}", path.display()))?;
    let mut sizes = SizeAlign::default();
    sizes.fill(&resolve);
    let found = resolve.packages[pkg]
        .interfaces
        .iter()
        .filter(|(name, _)| interface.is_none_or(|i| i == name.as_str()))
        .find_map(|(_, id)| resolve.interfaces[*id].functions.get(func));
    let Some(f) = found else {
        return Err(format!(
            "{}: no function {func}{}",
            path.display(),
            interface.map_or(String::new(), |i| format!(" in interface {i}"))
        ));
    };
    let stream_of = |ty: &Type| -> Option<Element> {
        let Type::Id(id) = ty else { return None };
        let TypeDefKind::Stream(Some(t)) = &resolve.types[*id].kind else {
            return None;
        };
        Some(Element {
            name: twin_hosting::canon::type_name(&resolve, t),
            size: sizes.size(t).size_wasm32(),
        })
    };
    Ok(TaskStreams {
        reads: f
            .params
            .iter()
            .filter_map(|p| stream_of(&p.ty).map(|e| (p.name.clone(), e)))
            .collect(),
        writes: f.result.as_ref().and_then(stream_of),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight_wit() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/flight.wit")
    }

    #[test]
    fn the_flight_wit_gives_the_record_sizes_of_flight_records() {
        // Independent expectation: flight::records' word counts, 4 bytes each.
        let est = task_streams(&flight_wit(), Some("stream-pipeline"), "estimator").unwrap();
        assert_eq!(
            est.reads,
            vec![(
                "frames".to_string(),
                Element {
                    name: "sensor-frame".into(),
                    size: flight::records::SENSOR_FRAME_WORDS * 4
                }
            )]
        );
        assert_eq!(
            est.writes,
            Some(Element {
                name: "nav-state".into(),
                size: flight::records::NAV_WORDS * 4
            })
        );
        let ctl = task_streams(&flight_wit(), None, "controller").unwrap();
        assert_eq!(ctl.reads[0].1.size, 64);
        assert_eq!(ctl.writes, None, "list<u8> is not a stream");
        let e = task_streams(&flight_wit(), Some("records"), "estimator").unwrap_err();
        assert!(
            e.contains("no function estimator in interface records"),
            "{e}"
        );
    }
}
