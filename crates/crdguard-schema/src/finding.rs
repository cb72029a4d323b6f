use serde::Serialize;

use crate::check::Check;

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

/// Why a finding's severity is not the one the schema comparison gave it (SPEC §5 v2): the
/// server's validation ratcheting, the stored objects, or the policy. Kept on the finding so a
/// reviewer sees both severities and who changed it (`explain`, `-o json` `adjusted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdjustedBy {
    /// The server ratchets this validation (KEP-4008): existing objects keep working.
    Ratcheting,
    /// The stored objects were read and checked against the desired schema.
    Objects,
    /// The policy's `schemaChecks.enforcement` for this check.
    Enforcement,
    /// A `schemaChecks.acknowledge` entry of the policy matches this finding.
    Acknowledged,
}

/// One change of a finding's severity, in the order they were applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjustment {
    pub from: Severity,
    pub to: Severity,
    pub by: AdjustedBy,
    pub reason: String,
}

/// One schema finding, as it appears in the JSON contract (SPEC §3):
/// `{ "severity", "check", "version", "path", "message" }`, plus (v2, only when set)
/// `affectsStatus` and `adjusted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    /// What the finding is about; serialized as its stable name, e.g. `field-removed`.
    pub check: Check,
    /// The API version of the CRD the finding is about (e.g. `v1`), or `""` for CRD-wide checks.
    pub version: String,
    /// JSON path inside the version's schema, e.g. `.spec.rules[*].matches`.
    pub path: String,
    pub message: String,
    /// The finding is under `.status`: it affects the controllers' status writes rather than
    /// users' writes. Labelled, judged like any other finding, never downgraded for it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub affects_status: bool,
    /// Severity changes after the comparison, oldest first; `severity` is the result.
    #[serde(rename = "adjusted", skip_serializing_if = "Vec::is_empty")]
    pub adjustments: Vec<Adjustment>,
}

impl Finding {
    pub fn new(
        severity: Severity,
        check: Check,
        version: impl Into<String>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let path = path.into();
        Finding {
            severity,
            check,
            version: version.into(),
            affects_status: is_status_path(&path),
            path,
            message: message.into(),
            adjustments: Vec::new(),
        }
    }

    /// Sets the severity to `to`, recording who changed it and why; no-op when it is already `to`.
    pub fn adjust(&mut self, to: Severity, by: AdjustedBy, reason: impl Into<String>) {
        if self.severity == to {
            return;
        }
        self.adjustments.push(Adjustment {
            from: self.severity,
            to,
            by,
            reason: reason.into(),
        });
        self.severity = to;
    }

    /// The severity the schema comparison gave, before any adjustment.
    pub fn original_severity(&self) -> Severity {
        self.adjustments.first().map_or(self.severity, |a| a.from)
    }
}

/// `.status` itself or anything below it.
fn is_status_path(path: &str) -> bool {
    path.strip_prefix(".status")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[', '(']))
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
