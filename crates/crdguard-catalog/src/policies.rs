//! Built-in compatibility policies (SPEC §4) of well-known Gateway API implementations, for
//! `crdguard check --for envoy-gateway@v1.9`. The data is in `data/policies/<product>.yaml`,
//! one document per product minor; each file's header says where the numbers come from and
//! how minimum, recommended and testedMaximum were chosen.

use crdguard_core::{InputError, Policy};

use crate::catalog::{Catalog, CatalogError};

/// `(product, file text)`, in the order `catalog list` shows them.
pub(crate) const BUILTIN_POLICY_FILES: [(&str, &str); 5] = [
    (
        "envoy-gateway",
        include_str!("../data/policies/envoy-gateway.yaml"),
    ),
    ("istio", include_str!("../data/policies/istio.yaml")),
    (
        "nginx-gateway-fabric",
        include_str!("../data/policies/nginx-gateway-fabric.yaml"),
    ),
    ("contour", include_str!("../data/policies/contour.yaml")),
    ("cilium", include_str!("../data/policies/cilium.yaml")),
];

/// Other names users type for the products.
const ALIASES: [(&str, &str); 3] = [
    ("eg", "envoy-gateway"),
    ("ngf", "nginx-gateway-fabric"),
    ("nginx", "nginx-gateway-fabric"),
];

/// One built-in policy: the product, the minor it applies to (every patch of it), the policy.
#[derive(Debug, Clone)]
pub struct BuiltinPolicy {
    pub product: String,
    pub minor: (u64, u64),
    pub policy: Policy,
}

impl BuiltinPolicy {
    /// `v1.9`
    pub fn version_label(&self) -> String {
        format!("v{}.{}", self.minor.0, self.minor.1)
    }
}

impl Catalog {
    /// The built-in policy of `product` for the minor of `version` (`v1.9`, `1.9`, `v1.9.0`,
    /// `1.9.3` all select v1.9). Product names are case-insensitive; `eg`, `ngf` and `nginx`
    /// are accepted as aliases.
    pub fn policy(&self, product: &str, version: &str) -> Option<Policy> {
        let product = canonical_product(product);
        let minor = parse_minor(version)?;
        self.policies
            .iter()
            .find(|p| p.product == product && p.minor == minor)
            .map(|p| p.policy.clone())
    }

    /// Every built-in policy, by product then minor.
    pub fn policies(&self) -> &[BuiltinPolicy] {
        &self.policies
    }
}

pub(crate) fn canonical_product(product: &str) -> String {
    let lower = product.trim().to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or(lower)
}

/// `v1.9`, `1.9`, `v1.9.0`, `1.9.3-rc.1` → (1, 9).
pub(crate) fn parse_minor(version: &str) -> Option<(u64, u64)> {
    let trimmed = version.trim();
    let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let core = bare.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    match parts.next() {
        None => {}
        Some(patch) => {
            patch.parse::<u64>().ok()?;
        }
    }
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// Parses every document of every file. A document's `metadata.name` must be the file's product
/// and its `metadata.version` a minor (`v1.9`), listed once.
pub(crate) fn load(files: &[(&str, &str)]) -> Result<Vec<BuiltinPolicy>, CatalogError> {
    let mut policies: Vec<BuiltinPolicy> = Vec::new();
    for (product, text) in files {
        for doc in crdguard_core::yaml::split_documents(text) {
            if is_only_comments(doc.text) {
                continue;
            }
            let source = format!("builtin policies/{product}.yaml, document {}", doc.index);
            let policy = Policy::from_yaml(&source, doc.text).map_err(CatalogError::Policy)?;
            let err = |field: &str, message: String| {
                CatalogError::Policy(InputError::new(source.clone(), message).field(field))
            };
            if policy.metadata.name != *product {
                return Err(err(
                    "metadata.name",
                    format!("expected {product:?}, found {:?}", policy.metadata.name),
                ));
            }
            let minor = policy
                .metadata
                .version
                .as_deref()
                .and_then(parse_minor)
                .ok_or_else(|| {
                    err(
                        "metadata.version",
                        "a built-in policy names the product minor it applies to, like v1.9".into(),
                    )
                })?;
            if policies
                .iter()
                .any(|p| p.product == *product && p.minor == minor)
            {
                return Err(err(
                    "metadata.version",
                    format!("{product} v{}.{} is listed twice", minor.0, minor.1),
                ));
            }
            policies.push(BuiltinPolicy {
                product: (*product).to_string(),
                minor,
                policy,
            });
        }
    }
    Ok(policies)
}

fn is_only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minors_parse_from_every_spelling() {
        for v in ["v1.9", "1.9", "v1.9.0", "1.9.3", "v1.9.0-rc.1", " v1.9 "] {
            assert_eq!(parse_minor(v), Some((1, 9)), "{v}");
        }
        for v in ["", "v1", "1.x", "1.9.x", "1.9.0.1", "latest"] {
            assert_eq!(parse_minor(v), None, "{v}");
        }
    }

    #[test]
    fn aliases_and_case() {
        assert_eq!(canonical_product("EG"), "envoy-gateway");
        assert_eq!(canonical_product("ngf"), "nginx-gateway-fabric");
        assert_eq!(canonical_product("Istio"), "istio");
    }
}
