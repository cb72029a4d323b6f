//! Bundle versions (semver with an optional `v`) and Kubernetes versions (`1.33`, `v1.33.1`).

use std::fmt;
use std::str::FromStr;

/// A bundle version such as `v1.6.1` or `v0.0.0-dev`. Displayed with a leading `v`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleVersion(pub semver::Version);

impl FromStr for BundleVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        semver::Version::parse(bare)
            .map(BundleVersion)
            .map_err(|e| format!("{s:?} is not a semantic version like v1.6.1 ({e})"))
    }
}

impl fmt::Display for BundleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl serde::Serialize for BundleVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BundleVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        version_text(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A version written as a string. An unquoted YAML number is refused with a message that says
/// to quote it: YAML reads `1.30` as 1.3, and `minimum: 1.30` would let a 1.29 cluster pass.
fn version_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match <serde_json::Value as serde::Deserialize>::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Err(serde::de::Error::custom(format!(
            "versions are strings: this one is the YAML number {n}, which may not be what was \
             written (1.30 reads as 1.3); quote it, e.g. \"1.30\""
        ))),
        other => Err(serde::de::Error::custom(format!(
            "expected a version string, got {other}"
        ))),
    }
}

/// A Kubernetes server version, compared on major.minor.patch (pre-release and build dropped:
/// `v1.33.1-gke.100` is 1.33.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl KubeVersion {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        KubeVersion {
            major,
            minor,
            patch,
        }
    }
}

impl FromStr for KubeVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || format!("{s:?} is not a Kubernetes version like 1.33 or v1.33.1");
        let bare = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let core = bare.split(['-', '+']).next().unwrap_or(bare);
        let mut parts = core.split('.');
        let mut next = |required: bool| -> Result<u64, String> {
            match parts.next() {
                Some(p) => p
                    .trim_end_matches('+') // `minor: "33+"` as some providers report it
                    .parse()
                    .map_err(|_| err()),
                None if required => Err(err()),
                None => Ok(0),
            }
        };
        let version = KubeVersion::new(next(true)?, next(true)?, next(false)?);
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(version)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl serde::Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KubeVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        version_text(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_versions_order_by_semver() {
        let a: BundleVersion = "v1.10.0".parse().unwrap();
        let b: BundleVersion = "1.9.3".parse().unwrap();
        let dev: BundleVersion = "v0.0.0-dev".parse().unwrap();
        assert!(a > b);
        assert!(dev < b);
        assert_eq!(a.to_string(), "v1.10.0");
        assert!("v1.6".parse::<BundleVersion>().is_err());
    }

    #[test]
    fn kube_versions_accept_provider_suffixes() {
        let v: KubeVersion = "v1.33.1-gke.1000".parse().unwrap();
        assert_eq!(v, KubeVersion::new(1, 33, 1));
        assert_eq!(
            "1.30".parse::<KubeVersion>().unwrap(),
            KubeVersion::new(1, 30, 0)
        );
        assert!("one.two".parse::<KubeVersion>().is_err());
    }
}
