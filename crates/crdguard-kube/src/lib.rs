//! Cluster adapter: connects with kubeconfig semantics (contexts, exec plugins, client certs,
//! tokens, TLS verification on), observes CRDs and admission policies, applies CRDs with
//! server-side apply, waits for `Established` by watch, and migrates storage versions.
//!
//! Everything the adapter reads becomes `crdguard-core` values; all decisions stay in the core.

mod annotate;
mod apply;
mod connect;
mod error;
mod helm_release;
mod keep;
mod migrate;
mod objects;
mod observe;
mod request;
mod retry;
mod stop;
mod type_check;
mod wait;

pub use apply::{ApplyOptions, PlannedWrite, Precondition, WriteOutcome, WriteResult, apply_body};
pub use connect::{Cluster, ConnectOptions};
pub use error::ClusterError;
pub use helm_release::ReleaseSecret;
pub use keep::{KEEP, KeepOutcome, RESOURCE_POLICY};
pub use migrate::{Migrated, MigrationReport, Progress};
pub use objects::OBJECT_PAGE_SIZE;
pub use request::{ATTEMPT_HEADER, REQUEST_ID_HEADER};
pub use stop::StopSignal;
pub use type_check::{TypeCheck, TypeWarning};
pub use wait::{WaitOutcome, WaitStart};

/// The custom resource definitions endpoint.
pub(crate) const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
