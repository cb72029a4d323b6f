//! Input errors: every one names the source, the document (and List item), the line where the
//! parser knows it, and the field.

use std::fmt;

/// A problem with user input (files, policies, snapshots). Maps to exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// File path, `<stdin>`, or `archive.tgz!path/in/archive.yaml`.
    pub source: String,
    /// 1-based document index in a multi-document stream.
    pub document: Option<usize>,
    /// 0-based item index inside a `List` document.
    pub item: Option<usize>,
    pub line: Option<usize>,
    /// Dotted path of the offending field, e.g. `spec.names.plural`.
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    pub fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            source: source.into(),
            document: None,
            item: None,
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at_origin(origin: &crate::Origin, message: impl Into<String>) -> Self {
        InputError {
            document: Some(origin.document),
            item: origin.item,
            ..InputError::new(origin.source.clone(), message)
        }
    }

    pub fn document(mut self, index: usize) -> Self {
        self.document = Some(index);
        self
    }

    pub fn line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// Parts of a message longer than this are cut in the middle: a 10 MB name in a CRD must not
/// become a 10 MB error line.
const MAX_SHOWN_CHARS: usize = 800;

/// `text` as it can be shown on a terminal: control characters (line breaks, escape sequences
/// from a hostile file or archive) escaped, and when longer than `MAX_SHOWN_CHARS`, its start
/// and end around a note of how much was left out.
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    let chars = text.chars().count();
    if chars <= MAX_SHOWN_CHARS && !text.chars().any(char::is_control) {
        return text.into();
    }
    if chars <= MAX_SHOWN_CHARS {
        return escape_controls(text).into();
    }
    let at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    let (head_end, tail_start) = (at(MAX_SHOWN_CHARS * 3 / 4), at(chars - MAX_SHOWN_CHARS / 4));
    format!(
        "{}…[{} bytes not shown]…{}",
        escape_controls(&text[..head_end]),
        tail_start - head_end,
        escape_controls(&text[tail_start..])
    )
    .into()
}

fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shorten(&self.source))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(document) = self.document {
            write!(f, ", document {document}")?;
        }
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {}", shorten(field))?;
        }
        write!(f, ": {}", shorten(&self.message))
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_the_middle() {
        let name = "w".repeat(10_000_000);
        let err = InputError::new("crd.yaml", format!("{name:?} must be <plural>.<group>"))
            .field("metadata.name");
        let shown = err.to_string();
        assert!(shown.len() < 1000, "{}", shown.len());
        assert!(shown.starts_with("crd.yaml, field metadata.name: \"www"));
        assert!(shown.ends_with("www\" must be <plural>.<group>"), "{shown}");
        assert!(shown.contains("bytes not shown"));
        let short = InputError::new("crd.yaml", "é".repeat(800)).to_string();
        assert!(!short.contains("not shown"));
        let hostile = InputError::new("a.tgz!c/crds/\u{1b}[2Jx.yaml", "line\nbreak").to_string();
        assert_eq!(hostile, "a.tgz!c/crds/\\u{1b}[2Jx.yaml: line\\nbreak");
    }
}
