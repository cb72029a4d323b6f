//! Verification of fetched manifests against the catalog's digests (SPEC §8: a release is
//! fetched from its upstream URL on demand and must match what the catalog recorded).

use std::fmt;

use serde_json::Value;

use crate::bundle::{BundleCatalog, Release};
use crate::digest::digest;

/// A fetched CRD that is not what the release published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMismatch {
    /// The release, as `tag/channel`.
    pub release: String,
    pub crd: String,
    /// The catalog's digest; `None` for a CRD the release does not have.
    pub expected: Option<String>,
    /// The fetched copy's digest; `None` when the fetched manifest lacks the CRD.
    pub actual: Option<String>,
}

impl fmt::Display for DigestMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.expected, &self.actual) {
            (Some(expected), Some(actual)) => write!(
                f,
                "{}: CRD {} has digest {actual}, the release published {expected}",
                self.release, self.crd
            ),
            (Some(_), None) => write!(
                f,
                "{}: CRD {} is missing from the fetched manifest",
                self.release, self.crd
            ),
            (None, _) => write!(
                f,
                "{}: CRD {} is not part of the release",
                self.release, self.crd
            ),
        }
    }
}

impl std::error::Error for DigestMismatch {}

impl Release {
    /// Checks fetched documents against the release: every CRD of the release present with
    /// its digest, and no other CRD. Documents that are not CRDs are ignored: upstream install
    /// files also carry the admission webhook (v0.5–v0.8) or the `safe-upgrades` policy (v1.5+).
    /// Reports the first problem, in release order.
    pub fn verify(&self, documents: &[Value]) -> Result<(), DigestMismatch> {
        let crds: Vec<(&str, &Value)> = documents
            .iter()
            .filter(|d| d.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
            .map(|d| {
                let name = d
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (name, d)
            })
            .collect();
        let mismatch = |crd: &str, expected: Option<&str>, actual: Option<String>| DigestMismatch {
            release: self.label(),
            crd: crd.to_string(),
            expected: expected.map(str::to_string),
            actual,
        };
        for expected in &self.crds {
            let mut copies = crds.iter().filter(|(name, _)| *name == expected.name);
            match copies.next() {
                None => return Err(mismatch(&expected.name, Some(&expected.digest), None)),
                Some((_, crd)) => {
                    let actual = digest(crd);
                    if actual != expected.digest {
                        return Err(mismatch(
                            &expected.name,
                            Some(&expected.digest),
                            Some(actual),
                        ));
                    }
                }
            }
            // A second copy under the same name would be applied too: it must match as well.
            for (_, crd) in copies {
                let actual = digest(crd);
                if actual != expected.digest {
                    return Err(mismatch(
                        &expected.name,
                        Some(&expected.digest),
                        Some(actual),
                    ));
                }
            }
        }
        if let Some((name, crd)) = crds.iter().find(|(name, _)| self.crd(name).is_none()) {
            return Err(mismatch(name, None, Some(digest(crd))));
        }
        Ok(())
    }
}

impl BundleCatalog {
    /// [`Release::verify`], for callers holding the catalog.
    pub fn verify(&self, release: &Release, documents: &[Value]) -> Result<(), DigestMismatch> {
        release.verify(documents)
    }
}
