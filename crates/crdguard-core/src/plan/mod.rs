//! Planning: the decision engine of SPEC §2 and the plan report of SPEC §3.

mod bundles;
pub mod channel;
mod companions;
mod engine;
mod judge;
mod next;
mod preflight;
mod reads;
mod report;
pub mod rules;

pub use engine::{PlanInputs, PlanOptions, SCHEMA_ANALYSIS, plan, plan_with};
pub use judge::ratcheting;
pub use next::{NextStep, next_steps};
pub use report::*;
