//! crdguard's application layer, as Helm's `pkg/action`: one module per user action, each a
//! settings struct and a `run` that resolves the sources, observes the cluster, plans and
//! carries the plan out. It takes plain settings (never clap types) and returns reports; the
//! CLI parses flags into settings and renders what comes back. Only this layer calls the kube,
//! helm and fetch adapters.

pub mod apply;
pub mod catalog;
pub mod check;
pub mod diff;
pub mod error;
pub mod explain;
pub mod guard;
pub mod inputs;
pub mod install;
pub mod migrate;
pub mod objects;
pub mod plan;
pub mod post_render;
pub mod rbac;
pub mod requirements;
pub mod saved_plan;
pub mod session;
pub mod settings;
pub mod snapshot;
pub mod status;

pub use crdguard_kube::Progress;
/// Limits for everything read from the user (file and archive sizes, YAML document size).
pub use crdguard_sources::Options as InputLimits;
pub use error::{CommandError, Exit};
