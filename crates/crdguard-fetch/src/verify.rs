//! A release file's text → its CRDs, checked against the catalog's digests. Used for fresh
//! downloads and for every cache hit alike.

use crdguard_catalog::{DigestMismatch, Release};
use crdguard_core::load::load_text;
use crdguard_core::yaml::Limits;
use crdguard_core::{Crd, InputError};
use serde_json::Value;

use crate::error::one_line;

/// The CRDs of a verified file, and what else it held.
#[derive(Debug)]
pub(crate) struct Verified {
    pub crds: Vec<Crd>,
    /// Non-CRD objects skipped (`ValidatingAdmissionPolicy safe-upgrades.gateway.networking.k8s.io`).
    pub skipped: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum Problem {
    /// Not YAML, or a CRD the API server would reject.
    Invalid(String),
    Mismatch(DigestMismatch),
}

impl Problem {
    pub fn describe(&self) -> String {
        match self {
            Problem::Invalid(message) => message.clone(),
            Problem::Mismatch(mismatch) => crate::error::describe_mismatch(mismatch),
        }
    }
}

/// Parses `text` (errors name `source`) and checks it holds exactly the release's CRDs with
/// the catalog's digests. Release files also carry non-CRD objects (the admission webhook of
/// v0.5–v0.8, the `safe-upgrades` policy of v1.5+): those are skipped, not verified.
pub(crate) fn verify(
    release: &Release,
    source: &str,
    text: &str,
    limits: Limits,
) -> Result<Verified, Problem> {
    let loaded = load_text(source, text, limits).map_err(|e| Problem::Invalid(locate(&e)))?;
    // Objects of kind CustomResourceDefinition that the loader did not take as CRDs (another
    // apiVersion) are passed too: the catalog then reports them as not part of the release
    // instead of their slipping through as "other objects".
    let documents: Vec<Value> = loaded
        .crds
        .iter()
        .map(|crd| crd.object.clone())
        .chain(
            loaded
                .others
                .iter()
                .filter(|o| o.kind == "CustomResourceDefinition")
                .map(|o| o.object.clone()),
        )
        .collect();
    release.verify(&documents).map_err(Problem::Mismatch)?;
    Ok(Verified {
        crds: loaded.crds,
        skipped: loaded.others.iter().map(|o| o.describe()).collect(),
    })
}

/// Where in the file and what: the input error without its source, which the surrounding
/// message already names (`line 2, document 1: invalid YAML: …`).
fn locate(error: &InputError) -> String {
    let mut place = Vec::new();
    if let Some(line) = error.line {
        place.push(format!("line {line}"));
    }
    if let Some(document) = error.document {
        place.push(format!("document {document}"));
    }
    if let Some(item) = error.item {
        place.push(format!("items[{item}]"));
    }
    if let Some(field) = &error.field {
        place.push(format!("field {field}"));
    }
    let message = one_line(&error.message);
    if place.is_empty() {
        message
    } else {
        format!("{}: {message}", place.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdguard_catalog::Catalog;
    use crdguard_core::Channel;

    #[test]
    fn invalid_yaml_is_located_without_repeating_the_source() {
        let release = Catalog::builtin()
            .unwrap()
            .bundle("gateway-api")
            .unwrap()
            .release("v1.6.1", Channel::Standard)
            .unwrap();
        let Err(Problem::Invalid(message)) = verify(
            release,
            "gateway-api@v1.6.1/standard",
            "a: b\nc: [",
            Limits::default(),
        ) else {
            panic!("expected invalid content")
        };
        assert!(message.starts_with("line "), "{message}");
        assert!(!message.contains("gateway-api@"), "{message}");
    }

    #[test]
    fn an_empty_file_lacks_every_crd() {
        let release = Catalog::builtin()
            .unwrap()
            .bundle("gateway-api")
            .unwrap()
            .release("v1.6.1", Channel::Standard)
            .unwrap();
        let Err(Problem::Mismatch(mismatch)) = verify(release, "x", "", Limits::default()) else {
            panic!("expected a mismatch")
        };
        assert_eq!(mismatch.actual, None);
        assert!(mismatch.expected.is_some());
    }
}
