use serde::Serialize;

/// How much a finding matters for an upgrade: `error` blocks it (unless `--allow-breaking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One schema finding, as it appears in the JSON contract (SPEC §3):
/// `{ "severity", "check", "version", "path", "message" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable check name, e.g. `field-removed`, `enum-value-removed`.
    pub check: String,
    /// The API version of the CRD the finding is about (e.g. `v1`), or `""` for CRD-wide checks.
    pub version: String,
    /// JSON path inside the version's schema, e.g. `.spec.rules[*].matches`.
    pub path: String,
    pub message: String,
}

impl Finding {
    pub fn new(
        severity: Severity,
        check: impl Into<String>,
        version: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            check: check.into(),
            version: version.into(),
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Counts of findings by severity (`diff -o json` summary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

impl Summary {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut summary = Summary::default();
        for finding in findings {
            match finding.severity {
                Severity::Error => summary.error += 1,
                Severity::Warning => summary.warning += 1,
                Severity::Info => summary.info += 1,
            }
        }
        summary
    }
}
