//! Human-readable JSON paths into a version's `openAPIV3Schema`.
//!
//! Paths name the *data* a schema node validates, not the schema's own layout:
//!
//! | schema step                      | path step             | example                         |
//! |----------------------------------|-----------------------|---------------------------------|
//! | root                             | `.`                   | `.`                             |
//! | `properties.<name>`              | `.name`               | `.spec.rules`                   |
//! | name with unusual characters     | `["name"]`            | `.metadata["a.b/c"]`            |
//! | `items` (object form)            | `[*]`                 | `.spec.rules[*].matches`        |
//! | `items` (tuple form), entry `i`  | `[i]`                 | `.spec.pair[0]`                 |
//! | `additionalProperties` (schema)  | `.*`                  | `.spec.labels.*`                |
//! | `patternProperties.<re>`         | `(patternProperties["re"])` |                           |
//! | `allOf[i]` / `anyOf[i]` / `oneOf[i]` | `(allOf[i])`      | `.spec.port(anyOf[1])`          |
//!
//! Map values use `.*` rather than `[*]` so that a reader can tell a map (`.labels.*`) from a
//! list (`.rules[*]`) without the schema at hand.
//!
//! The path is built in one reusable buffer while walking (push, recurse, truncate), and only
//! rendered into an owned `String` when a finding is reported: most nodes produce no finding.

use std::fmt::Write as _;

#[derive(Debug, Default, Clone)]
pub(crate) struct SchemaPath {
    buf: String,
}

/// A position in the buffer to return to after visiting a child.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(usize);

impl SchemaPath {
    pub(crate) fn root() -> Self {
        SchemaPath::default()
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark(self.buf.len())
    }

    pub(crate) fn reset(&mut self, mark: Mark) {
        self.buf.truncate(mark.0);
    }

    pub(crate) fn push_field(&mut self, name: &str) {
        if is_plain_name(name) {
            self.buf.push('.');
            self.buf.push_str(name);
        } else {
            // Debug formatting escapes quotes and control characters, like JSON would.
            let _ = write!(self.buf, "[{name:?}]");
        }
    }

    pub(crate) fn push_items(&mut self) {
        self.buf.push_str("[*]");
    }

    pub(crate) fn push_index(&mut self, index: usize) {
        let _ = write!(self.buf, "[{index}]");
    }

    pub(crate) fn push_map_values(&mut self) {
        self.buf.push_str(".*");
    }

    pub(crate) fn push_branch(&mut self, keyword: &str, index: usize) {
        let _ = write!(self.buf, "({keyword}[{index}])");
    }

    pub(crate) fn push_pattern(&mut self, pattern: &str) {
        let _ = write!(self.buf, "(patternProperties[{pattern:?}])");
    }

    pub(crate) fn render(&self) -> String {
        if self.buf.starts_with('.') {
            self.buf.clone()
        } else {
            // Root (`.`), or a step that does not start with a dot (`[*]`, `(allOf[0])`,
            // `["odd name"]`) directly under the root.
            let mut out = String::with_capacity(self.buf.len() + 1);
            out.push('.');
            out.push_str(&self.buf);
            out
        }
    }
}

/// Names that read unambiguously after a dot. Anything else is quoted.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b'@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_root_fields_items_maps_and_branches() {
        let mut p = SchemaPath::root();
        assert_eq!(p.render(), ".");
        p.push_field("spec");
        let m = p.mark();
        p.push_field("rules");
        p.push_items();
        p.push_field("port");
        assert_eq!(p.render(), ".spec.rules[*].port");
        p.reset(m);
        p.push_field("labels");
        p.push_map_values();
        assert_eq!(p.render(), ".spec.labels.*");
        p.reset(m);
        p.push_field("a.b/c");
        assert_eq!(p.render(), ".spec[\"a.b/c\"]");
        p.reset(m);
        p.push_branch("anyOf", 1);
        assert_eq!(p.render(), ".spec(anyOf[1])");
        let mut q = SchemaPath::root();
        q.push_items();
        assert_eq!(q.render(), ".[*]");
    }
}
