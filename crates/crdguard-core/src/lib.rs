//! crdguard's pure core: the CRD model, loading from text, bundle classification, the
//! compatibility policy, semantic comparison and the decision engine.
//!
//! No I/O and no async here: adapters read files or talk to clusters and hand this crate text
//! and values, the way `kube-core` sits under `kube-client`.

pub mod admission;
mod block_yaml;
pub mod bundle;
pub mod companion;
pub mod error;
pub mod identify;
pub mod load;
pub mod model;
pub mod names;
pub mod normalize;
pub mod objects;
pub mod owner;
pub mod plan;
pub mod policy;
pub mod post_render;
pub mod reason;
pub mod registry;
pub mod requirements;
pub mod retry;
pub mod schema_checks;
pub mod state;
pub mod status;
mod strict_value;
pub mod version;
pub mod yaml;

pub use error::InputError;
pub use model::{BundleMembership, Channel, Class, Crd, CrdVersion, Origin};
pub use policy::Policy;
pub use reason::{Code, Reason};
pub use state::{ClusterSource, DesiredState, ObservedState};
pub use version::{BundleVersion, KubeVersion};
