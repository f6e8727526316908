//! twin-ui: rt-twin's desktop app (eframe/egui). It runs the same scenarios as `sim`, live, as a
//! client of the `sim` library's session API ([`twin_flight::session`]) on a worker thread, and shows
//! the flight, both cores, the MU traffic, the gates and the events; it overlays a saved trace
//! and exports CSV and PNG. See docs/twin-ui.md.

pub mod app;
pub mod model;
pub mod plots;
pub mod worker;

pub use app::TwinApp;
