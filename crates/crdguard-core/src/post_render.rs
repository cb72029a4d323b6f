//! The Helm post-renderer's job (SPEC §6): drop CustomResourceDefinition documents from a
//! rendered manifest stream and leave every other byte as it was (comments, order, separators),
//! so CRDs never go through Helm (nor into its release Secret).

use serde_json::Value;

use crate::yaml::{self, Limits};

/// The stream without CRDs, and the names of the CRDs removed.
pub struct Filtered {
    pub text: String,
    pub removed: Vec<String>,
}

/// Removes CRD documents. A document that does not parse is kept as it is: judging it is
/// Helm's job, and the post-renderer must not hide it.
pub fn remove_crds(text: &str) -> Filtered {
    let mut out = String::with_capacity(text.len());
    let mut removed = Vec::new();
    for segment in segments(text) {
        let body = segment
            .strip_prefix("---")
            .map(|rest| rest.split_once('\n').map_or("", |(_, b)| b))
            .unwrap_or(segment);
        let doc = yaml::RawDocument {
            index: 1,
            line: 1,
            text: body,
        };
        match yaml::parse_document(&doc, Limits::default()) {
            Ok(Some(value)) if is_crd(&value) => removed.push(
                value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("<unnamed>")
                    .to_string(),
            ),
            _ => out.push_str(segment),
        }
    }
    Filtered { text: out, removed }
}

fn is_crd(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
        && value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// Splits a stream into raw segments, each starting at its `---` marker line (the first may
/// have none). Concatenating the segments gives back the input exactly.
fn segments(text: &str) -> Vec<&str> {
    let mut starts = vec![0usize];
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let marker = line.starts_with("---")
            && line[3..]
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r');
        if marker && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    starts
        .windows(2)
        .map(|w| &text[w[0]..w[1]])
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_crds_and_keeps_the_rest_byte_for_byte() {
        let input = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\n---\n# Source: c/templates/crd.yaml\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: xs.example.com\n---\n# Source: c/templates/b.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n";
        let filtered = remove_crds(input);
        assert_eq!(filtered.removed, vec!["xs.example.com"]);
        assert_eq!(
            filtered.text,
            "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # keep me\n---\n# Source: c/templates/b.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n"
        );
    }

    #[test]
    fn segments_concatenate_to_the_input() {
        let input = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\n";
        assert_eq!(segments(input).concat(), input);
        assert_eq!(remove_crds(input).text, input);
    }
}
