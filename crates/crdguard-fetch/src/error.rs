//! Why a release could not be fetched, and which exit code that deserves.
//!
//! Every message is one line naming the release and, where one was involved, the URL. Bodies
//! are never quoted: a mirror's error page or a tampered file says nothing useful on a terminal.

use std::fmt;
use std::path::PathBuf;

use crdguard_catalog::DigestMismatch;

/// How the CLI should report a [`FetchError`] (SPEC: exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// Exit 2: the reference, the configured URL or the content received is wrong. Retrying
    /// the same command will not help.
    BadInput,
    /// Exit 3: the catalog server could not be reached or answered with an error (or offline
    /// mode forbade reaching it). The same command may work later or online.
    Unavailable,
}

impl ExitClass {
    /// The process exit code for this class.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::BadInput => 2,
            ExitClass::Unavailable => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The text is not `NAME@VERSION[/CHANNEL]`.
    #[error("bad catalog reference: {message}")]
    BadReference { message: String },

    /// The bundle, version or channel is not in the built-in catalog. `message` lists the
    /// closest entries that are.
    #[error("{message}")]
    NotInCatalog {
        reference: String,
        message: String,
        /// Close matches, as full references (`gateway-api@v1.6.1/standard`).
        suggestions: Vec<String>,
    },

    /// The URL may not be fetched: plain http to a host that is not loopback, an unsupported
    /// scheme, credentials in the URL, or a redirect to such a URL. Refused before connecting.
    #[error("{release}: refusing to download {url}: {reason}")]
    InsecureUrl {
        release: String,
        url: String,
        reason: String,
    },

    /// Connection refused or reset, DNS failure, TLS failure, timeout.
    #[error("{release}: cannot download {url}: {message}{}", attempts_note(*attempts))]
    Network {
        release: String,
        url: String,
        message: String,
        attempts: u32,
    },

    /// The server answered with a status other than success or a followable redirect.
    #[error("{release}: cannot download {url}: HTTP {status}{}", attempts_note(*attempts))]
    Http {
        release: String,
        url: String,
        status: u16,
        attempts: u32,
    },

    /// The response is larger than the configured limit; it was not read to the end.
    #[error("{release}: {url} is larger than the limit of {limit} bytes")]
    TooLarge {
        release: String,
        url: String,
        limit: u64,
    },

    /// The response is not an install file: not UTF-8, not YAML, or an invalid CRD.
    #[error("{release}: {url} is not a valid install file: {message}")]
    InvalidContent {
        release: String,
        url: String,
        message: String,
    },

    /// The download's CRDs are not the ones the release published. Nothing was cached.
    #[error(
        "{release}: {url} does not match the catalog: {}",
        describe_mismatch(mismatch)
    )]
    DigestMismatch {
        release: String,
        url: String,
        mismatch: Box<DigestMismatch>,
    },

    /// Offline mode and no usable cached copy.
    #[error(
        "{release}: not in the local cache ({}) and offline mode forbids downloading {url}",
        describe_cache(cache_file.as_ref(), reason)
    )]
    NotCached {
        release: String,
        url: String,
        cache_file: Option<PathBuf>,
        /// Why the cache could not serve it, when that is more than "no such file".
        reason: Option<String>,
    },

    /// Offline mode and the cached copy failed verification. It has been removed.
    #[error(
        "{release}: the cached copy {} failed verification ({problem}) and was removed; \
         offline mode forbids downloading it again from {url}",
        cache_file.display()
    )]
    CorruptCache {
        release: String,
        url: String,
        cache_file: PathBuf,
        problem: String,
    },

    /// The built-in catalog failed to load: only a broken build can cause this.
    #[error("built-in catalog: {message}")]
    Catalog { message: String },
}

impl FetchError {
    /// Which exit code the CLI should use: 2 for bad input, 3 for an unreachable or failing
    /// catalog server.
    pub fn exit_class(&self) -> ExitClass {
        match self {
            FetchError::BadReference { .. }
            | FetchError::NotInCatalog { .. }
            | FetchError::InsecureUrl { .. }
            | FetchError::TooLarge { .. }
            | FetchError::InvalidContent { .. }
            | FetchError::DigestMismatch { .. }
            | FetchError::Catalog { .. } => ExitClass::BadInput,
            FetchError::Network { .. }
            | FetchError::Http { .. }
            | FetchError::NotCached { .. }
            | FetchError::CorruptCache { .. } => ExitClass::Unavailable,
        }
    }
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn describe_cache(cache_file: Option<&PathBuf>, reason: &Option<String>) -> String {
    match (cache_file, reason) {
        (Some(path), Some(reason)) => format!("{}: {reason}", path.display()),
        (Some(path), None) => path.display().to_string(),
        (None, _) => "no cache directory: set XDG_CACHE_HOME or HOME".to_string(),
    }
}

/// The mismatch without the release label, which the surrounding message already gives.
pub(crate) fn describe_mismatch(mismatch: &DigestMismatch) -> String {
    MismatchDetail(mismatch).to_string()
}

struct MismatchDetail<'a>(&'a DigestMismatch);

impl fmt::Display for MismatchDetail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        match (&m.expected, &m.actual) {
            (Some(expected), Some(actual)) => write!(
                f,
                "CRD {} has digest {actual}, the catalog expects {expected}",
                m.crd
            ),
            (Some(expected), None) => write!(
                f,
                "CRD {} (digest {expected}) is missing from the file",
                m.crd
            ),
            (None, Some(actual)) => write!(
                f,
                "CRD {} (digest {actual}) is not part of the release",
                m.crd
            ),
            (None, None) => write!(f, "CRD {} is not part of the release", m.crd),
        }
    }
}

/// Folds any message onto one line, so wrapped library errors keep the one-line promise.
pub(crate) fn one_line(message: impl fmt::Display) -> String {
    let text = message.to_string();
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_exit_codes() {
        let bad = FetchError::BadReference {
            message: "x".into(),
        };
        assert_eq!(bad.exit_class(), ExitClass::BadInput);
        assert_eq!(bad.exit_class().code(), 2);
        let down = FetchError::Network {
            release: "gateway-api@v1.6.1/standard".into(),
            url: "https://example.invalid/a".into(),
            message: "connection refused".into(),
            attempts: 3,
        };
        assert_eq!(down.exit_class().code(), 3);
        assert_eq!(
            down.to_string(),
            "gateway-api@v1.6.1/standard: cannot download https://example.invalid/a: \
             connection refused (after 3 attempts)"
        );
    }

    #[test]
    fn one_line_folds_whitespace() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}
