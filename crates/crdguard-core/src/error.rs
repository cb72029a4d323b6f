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

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
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
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}
