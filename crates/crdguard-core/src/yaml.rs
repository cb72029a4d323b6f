//! The one place that knows which YAML crate we use.
//!
//! Streams are split into documents on `---` marker lines before parsing. YAML forbids a
//! document marker at column 0 inside any scalar, so the split is exact, and it lets us bound
//! the size of each document and parse documents in parallel.

use serde_json::Value;

use crate::block_yaml;
use crate::strict_value::StrictValue;

/// Limits applied to untrusted input before and while it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single YAML/JSON document accepted, in bytes.
    pub max_document_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // Large enough for a `kubectl get crd -o yaml` List of the 2,043 upjet-aws CRDs
        // (~100 MB), small enough to refuse absurd input before parsing it (a document holds
        // ~10× its size while parsed). A block-style List is held to it item by item.
        Limits {
            max_document_bytes: 128 * 1024 * 1024,
        }
    }
}

/// One raw document of a stream: its 1-based index, the line it starts on, and its text.
#[derive(Debug, Clone, Copy)]
pub struct RawDocument<'a> {
    pub index: usize,
    pub line: usize,
    pub text: &'a str,
}

/// Splits a YAML stream into documents. Empty documents (only comments/whitespace) are kept
/// so that document indexes match what users count in their editor.
pub fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut seen_marker_or_content = false;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        if is_document_start(line) {
            if seen_marker_or_content || !text[start..offset].trim().is_empty() {
                docs.push(RawDocument {
                    index: docs.len() + 1,
                    line: start_line,
                    text: &text[start..offset],
                });
            }
            seen_marker_or_content = true;
            // The marker line may carry content (`--- {a: 1}`); keep it, minus the marker.
            start = offset + 3;
            start_line = line_no;
        } else if is_document_end(line) {
            docs.push(RawDocument {
                index: docs.len() + 1,
                line: start_line,
                text: &text[start..offset],
            });
            start = offset + line.len();
            start_line = line_no + 1;
            seen_marker_or_content = false;
        }
        offset += line.len();
    }
    if !text[start..].trim().is_empty() || (seen_marker_or_content && docs.is_empty()) {
        docs.push(RawDocument {
            index: docs.len() + 1,
            line: start_line,
            text: &text[start..],
        });
    }
    docs
}

fn is_document_start(line: &str) -> bool {
    line.starts_with("---")
        && line[3..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r')
}

fn is_document_end(line: &str) -> bool {
    line.starts_with("...") && line[3..].trim().is_empty()
}

/// Why one document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    TooLarge {
        bytes: usize,
        limit: usize,
        /// The List item (0-based) that is too large, when the document is a List.
        item: Option<usize>,
        /// The line the item starts on.
        line: Option<usize>,
        /// A JSON document, whose limit is JSON_LIMIT_FACTOR times the document limit.
        json: bool,
    },
    /// `message` names the syntax the document was read as: `invalid YAML: …` or
    /// `invalid JSON: …`.
    Syntax {
        message: String,
        line: Option<usize>,
    },
}

/// Parses one document into a JSON value. `Ok(None)` for an empty document.
///
/// serde_yaml_ng refuses alias expansion beyond a fixed repetition budget ("billion laughs"),
/// rejects duplicate mapping keys and keeps YAML 1.1 oddities such as an unquoted `=` as strings.
pub fn parse_document(
    doc: &RawDocument<'_>,
    limits: Limits,
) -> Result<Option<Value>, ParseFailure> {
    // A large List is parsed item by item, each item held to the limit.
    if doc.text.len() >= PARALLEL_LIST_BYTES {
        match parse_list_in_parallel(doc.text, limits.max_document_bytes) {
            ListParse::Parsed(value) => return Ok(Some(value)),
            ListParse::ItemTooLarge { item, bytes, line } => {
                return Err(ParseFailure::TooLarge {
                    bytes,
                    limit: limits.max_document_bytes,
                    item: Some(item),
                    line: Some(line + doc.line - 1),
                    json: false,
                });
            }
            ListParse::NotCut => {}
        }
    }
    // JSON (`kubectl get -o json`) is YAML too, and serde_json reads it several times faster
    // holding no events, so a JSON document may be JSON_LIMIT_FACTOR times the limit (a
    // `kubectl get crd -o json` of 2,043 upjet-aws CRDs is 175 MB). serde_json's own errors are
    // reported for what only it can read (over the YAML limit) and for duplicate keys (it knows
    // their line); any other document it refuses goes to the YAML parser, which decides.
    if doc.text.trim_start().starts_with('{') {
        let json_limit = limits.max_document_bytes.saturating_mul(JSON_LIMIT_FACTOR);
        if doc.text.len() > json_limit {
            return Err(ParseFailure::TooLarge {
                bytes: doc.text.len(),
                limit: json_limit,
                item: None,
                line: None,
                json: true,
            });
        }
        match serde_json::from_str::<StrictValue>(doc.text) {
            Ok(StrictValue(value)) => return Ok(Some(value)),
            Err(err)
                if err.classify() == serde_json::error::Category::Data
                    || doc.text.len() > limits.max_document_bytes =>
            {
                return Err(ParseFailure::Syntax {
                    message: format!("invalid JSON: {}", without_position(err.to_string())),
                    line: Some(err.line() + doc.line - 1),
                });
            }
            Err(_) => {}
        }
    }
    if doc.text.len() > limits.max_document_bytes {
        return Err(ParseFailure::TooLarge {
            bytes: doc.text.len(),
            limit: limits.max_document_bytes,
            item: None,
            line: None,
            json: false,
        });
    }
    if doc.text.trim().is_empty() || only_comments(doc.text) {
        return Ok(None);
    }
    // The common block-style layout is read several times faster by the fast path; anything
    // it does not fully understand (and every error) is left to serde_yaml_ng. The fast path
    // reads no flow collection but one-line lists of scalars, so the flow-depth guard (a pass
    // over the whole text) is only for serde_yaml_ng.
    if let Some(value) = block_yaml::parse(doc.text) {
        return Ok(Some(value));
    }
    if let Some(line) = flow_depth_exceeded(doc.text, MAX_FLOW_DEPTH) {
        return Err(ParseFailure::Syntax {
            message: format!(
                "invalid YAML: flow collections ([ ] and {{ }}) nest deeper than {MAX_FLOW_DEPTH} \
                 levels"
            ),
            line: Some(line + doc.line - 1),
        });
    }
    match serde_yaml_ng::from_str::<StrictValue>(doc.text) {
        Ok(StrictValue(Value::Null)) => Ok(None),
        Ok(StrictValue(value)) => Ok(Some(value)),
        Err(err) => {
            // Report lines relative to the whole file, not to the document.
            let line = err.location().map(|l| l.line() + doc.line - 1);
            Err(ParseFailure::Syntax {
                message: format!("invalid YAML: {}", without_position(err.to_string())),
                line,
            })
        }
    }
}

/// A parser's message without its " at line L column C": the error names the file's line itself.
fn without_position(mut message: String) -> String {
    if let Some(pos) = message.find(" at line ") {
        message.truncate(pos);
    }
    message
}

/// How many times the document limit a JSON document may be (see `parse_document`).
pub const JSON_LIMIT_FACTOR: usize = 4;

/// Documents at least this large are tried as a `List` whose items parse in parallel.
const PARALLEL_LIST_BYTES: usize = 512 * 1024;

/// A block-style `List` document (`kubectl get -o yaml`, `crdguard snapshot`) parsed item by
/// item on every core. A snapshot of a large cluster is one document of ~100 MB; parsed whole, it
/// runs on one core, and the YAML crate holds every event of the document in memory first (2.4×
/// the memory of the same CRDs read from separate files).
///
/// `NotCut` whenever the cut is not certain to mean what the whole document means: anything
/// but the plain layout, any piece that does not parse on its own (anchors shared between items,
/// a quoted scalar running across an item's first line), or a header whose `items` is not the
/// marker put in their place. The caller then parses the document whole, so errors and edge
/// cases read exactly as before.
fn parse_list_in_parallel(text: &str, max_item_bytes: usize) -> ListParse {
    use rayon::prelude::*;
    let Some(list) = split_list_items(text) else {
        return ListParse::NotCut;
    };
    if let Some((item, piece)) = list
        .items
        .iter()
        .enumerate()
        .find(|(_, piece)| piece.len() > max_item_bytes)
    {
        let start = piece.as_ptr() as usize - text.as_ptr() as usize;
        let line = 1 + text.as_bytes()[..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        return ListParse::ItemTooLarge {
            item,
            bytes: piece.len(),
            line,
        };
    }
    if list.header.len() > max_item_bytes {
        return ListParse::NotCut;
    }
    let (header, items) = rayon::join(
        || parse_piece(&list.header),
        || {
            list.items
                .par_iter()
                .map(|item| match parse_piece(item)? {
                    Value::Array(mut one) if one.len() == 1 => one.pop(),
                    _ => None,
                })
                .collect::<Option<Vec<Value>>>()
        },
    );
    let (Some(mut header), Some(items)) = (header, items) else {
        return ListParse::NotCut;
    };
    // The header's `items` must be the marker put in place of the items: when the cut was made
    // at an `items:` line inside a quoted scalar, the marker is part of that scalar and the
    // document's real `items` is something else.
    match header.get_mut("items") {
        Some(value) if value.as_str() == Some(ITEMS_CUT_MARKER) => *value = Value::Array(items),
        _ => return ListParse::NotCut,
    }
    ListParse::Parsed(header)
}

/// What took the place of a cut List's items in its header.
const ITEMS_CUT_MARKER: &str = "crdguard: the items of this List are parsed one by one";

/// The outcome of trying a document as a List cut at its items.
#[derive(Debug, PartialEq)]
enum ListParse {
    Parsed(Value),
    /// The cut is plain, but one item is larger than the document limit.
    ItemTooLarge {
        item: usize,
        bytes: usize,
        line: usize,
    },
    /// Not a List the cut can be trusted on: parse the document whole.
    NotCut,
}

/// Parses one piece of a cut document with every guard of a whole one.
fn parse_piece(text: &str) -> Option<Value> {
    value_from_str(text).ok()
}

/// A `List` document cut at its items: the document with [`ITEMS_CUT_MARKER`] in place of the
/// items, and the text of each item (a one-entry block sequence).
#[derive(Debug)]
struct ListPieces<'a> {
    header: String,
    items: Vec<&'a str>,
}

/// Cuts `items:` (a top-level key whose value is a block sequence) into its entries by
/// indentation alone: an entry starts with `- ` at the sequence's column, and the sequence ends
/// at the first content line left of or at that column that is not an entry. Comment and blank
/// lines never cut. Directives, tabs in indentation and flow-style items are left to the
/// whole-document parser.
fn split_list_items(text: &str) -> Option<ListPieces<'_>> {
    let mut lines = text.split_inclusive('\n').scan(0usize, |offset, line| {
        let start = *offset;
        *offset += line.len();
        Some((start, line))
    });
    let mut items_key = None;
    for (start, line) in lines.by_ref() {
        // Directives change how the pieces would parse.
        if line.starts_with('%') {
            return None;
        }
        if let Some(rest) = line.strip_prefix("items:") {
            let rest = rest.trim();
            if !(rest.is_empty() || rest.starts_with('#')) {
                return None;
            }
            items_key = Some(start);
            break;
        }
    }
    let items_key = items_key?;
    let mut column = None;
    let mut items = Vec::new();
    let mut item_start = None;
    let mut end = text.len();
    for (start, line) in lines {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        // A tab right of an entry's column is content (a block scalar may hold them); at or
        // left of it, it could be read as indentation, which YAML forbids: leave it whole.
        if content.starts_with('\t') && column.is_none_or(|c| indent <= c) {
            let blank = content.trim();
            if !(blank.is_empty() || blank.starts_with('#')) {
                return None;
            }
        }
        let trimmed = content.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let entry = content.starts_with("- ") || trimmed == "-";
        let column = *column.get_or_insert(indent);
        if indent > column {
            // Content belongs to an entry; before the first one, this is not a block sequence.
            item_start?;
            continue;
        }
        if let Some(begun) = item_start.take() {
            items.push(&text[begun..start]);
        }
        if indent == column && entry {
            item_start = Some(start);
        } else {
            end = start;
            break;
        }
    }
    if let Some(begun) = item_start {
        items.push(&text[begun..end]);
    }
    if items.len() < 2 {
        return None;
    }
    let header = format!(
        "{}items: \"{ITEMS_CUT_MARKER}\"\n{}",
        &text[..items_key],
        &text[end..]
    );
    Some(ListPieces { header, items })
}

/// Flow collections (`[ ]`, `{ }`) nested deeper than this are refused before parsing. The
/// deserializer refuses more than 128 levels of any nesting, but only after the YAML scanner has
/// read the whole document, and the scanner's work grows with the flow depth times the number of
/// tokens: 100,000 levels of `{"a":` (600 KB) took 45 s, and 128 MB would take hours.
const MAX_FLOW_DEPTH: usize = 256;

/// The 1-based line where flow collections first nest deeper than `limit`, if they do.
///
/// A lenient tokenizer, not a YAML parser: a bracket counts where a flow collection can start
/// (at a line start, after a blank or after another flow indicator), not inside quoted scalars
/// (taken to end at their line's end at the latest) nor in comments. It errs towards counting
/// too much, so a valid document trips it only with hundreds of unclosed brackets in its text.
/// It guards against runaway nesting; it is not exact (a quoted scalar over several lines or a
/// block scalar can make it count differently from the parser).
fn flow_depth_exceeded(text: &str, limit: usize) -> Option<usize> {
    // Fewer brackets than the limit cannot nest deeper than it; most documents stop here.
    if text.bytes().filter(|b| matches!(b, b'[' | b'{')).count() <= limit {
        return None;
    }
    let mut depth = 0usize;
    let mut line = 1usize;
    let mut prev = b'\n';
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line += 1;
            (quote, comment, prev) = (None, false, b);
            continue;
        }
        if comment {
            continue;
        }
        if let Some(q) = quote {
            if q == b'"' && b == b'\\' {
                if bytes.next() == Some(b'\n') {
                    line += 1;
                    (quote, prev) = (None, b'\n');
                }
                continue;
            }
            if b == q && !(q == b'\'' && bytes.next_if_eq(&b'\'').is_some()) {
                quote = None;
            }
            prev = b;
            continue;
        }
        // Line breaks (also the last bytes of NEL, LS and PS), blanks and flow indicators.
        let token_start = matches!(
            prev,
            b'\n' | b'\r' | b' ' | b'\t' | b'[' | b'{' | b',' | b':' | b'?' | 0x85 | 0xA8 | 0xA9
        );
        match b {
            b'[' | b'{' if token_start => {
                depth += 1;
                if depth > limit {
                    return Some(line);
                }
            }
            // Inside plain text (`x[[`): neither this bracket nor the next one opens anything.
            b'[' | b'{' => {
                prev = b'x';
                continue;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' | b'\'' if token_start => quote = Some(b),
            b'#' if token_start => comment = true,
            _ => {}
        }
        prev = b;
    }
    None
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "%YAML 1.2" || t.starts_with("%TAG")
    })
}

/// Parses a single-document file (a policy) into a JSON value with the guards of
/// [`parse_document`]: duplicate keys, deep flow nesting and alias bombs are errors.
pub fn value_from_str(text: &str) -> Result<Value, String> {
    // As in `parse_document`: the fast path first, the flow-depth guard for serde_yaml_ng.
    if let Some(value) = block_yaml::parse(text) {
        return Ok(value);
    }
    if let Some(line) = flow_depth_exceeded(text, MAX_FLOW_DEPTH) {
        return Err(format!(
            "flow collections ([ ] and {{ }}) nest deeper than {MAX_FLOW_DEPTH} levels at line {line}"
        ));
    }
    serde_yaml_ng::from_str::<StrictValue>(text)
        .map(|StrictValue(value)| value)
        .map_err(|e| e.to_string())
}

/// Parses YAML text of a small, trusted-shape document (policies, values) into any type.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

/// Serializes a value as YAML (snapshots, rendered objects).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_yaml_ng::to_string(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_markers_and_counts_documents_like_an_editor() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- \n# only a comment\n---\nc: |\n  ---x\n");
        assert_eq!(docs.len(), 4);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[1].index, 2);
        assert_eq!(docs[3].line, 6);
        assert!(docs[3].text.contains("---x"));
    }

    #[test]
    fn leading_marker_does_not_create_an_empty_first_document() {
        let docs = split_documents("---\na: 1\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 1);
    }

    #[test]
    fn marker_with_inline_content_keeps_content() {
        let docs = split_documents("--- {a: 1}\n");
        let v = parse_document(&docs[0], Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn unquoted_equals_sign_is_a_string() {
        let docs = split_documents("enum:\n- =\n- '!='\n");
        let v = parse_document(&docs[0], Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(v["enum"][0], "=");
    }

    #[test]
    fn alias_bomb_fails_fast() {
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] {
            bomb.push_str(&format!(
                "{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
            ));
            prev = name;
        }
        let docs = split_documents(&bomb);
        let err = parse_document(&docs[0], Limits::default()).unwrap_err();
        assert!(matches!(err, ParseFailure::Syntax { .. }), "{err:?}");
    }

    #[test]
    fn too_large_document_is_refused_before_parsing() {
        let text = "a: b\n".repeat(100);
        let docs = split_documents(&text);
        let err = parse_document(
            &docs[0],
            Limits {
                max_document_bytes: 10,
            },
        )
        .unwrap_err();
        assert!(matches!(err, ParseFailure::TooLarge { limit: 10, .. }));
    }

    #[test]
    fn syntax_error_reports_file_line() {
        let docs = split_documents("a: 1\n---\nb: [unclosed\nc: 2\n");
        match parse_document(&docs[1], Limits::default()).unwrap_err() {
            ParseFailure::Syntax { line, .. } => assert!(line.unwrap() >= 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing() {
        for text in [
            "{\"a\":".repeat(100_000),
            format!("a: b\nc:\n  - {}", "[".repeat(300)),
            format!("x: [{}]", "[\"]\", ".repeat(300)),
            format!("x: [{}]", "['it''s ]', ".repeat(300)),
        ] {
            let docs = split_documents(&text);
            match parse_document(&docs[0], Limits::default()) {
                Err(ParseFailure::Syntax { message, .. }) => {
                    assert!(message.contains("nest deeper than 256"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
        // Brackets in comments, quoted scalars and plain text do not count.
        let text = format!(
            "# {}\na: \"{}\"\nb: '{}'\nc: x{}\nd: [[[1]]]\n",
            "[".repeat(300),
            "{".repeat(300),
            "[".repeat(300),
            "[".repeat(300)
        );
        let docs = split_documents(&text);
        assert!(parse_document(&docs[0], Limits::default()).is_ok());
        assert_eq!(flow_depth_exceeded("a:\n- [\n  [\n   [x]]]\n", 2), Some(4));
    }

    fn whole(text: &str) -> Value {
        serde_yaml_ng::from_str::<StrictValue>(text).unwrap().0
    }

    #[test]
    fn a_list_parsed_item_by_item_equals_the_list_parsed_whole() {
        let texts = [
            // kubectl's layout: entries at column 0, keys after the items.
            "apiVersion: v1\nitems:\n- a: 1\n  b: |\n    - not an entry\n    x: y\n- a: 2\n  c: [1, 2]\n\n# between entries\n- a: 3\nkind: List\nmetadata:\n  resourceVersion: \"\"\n",
            // Indented entries, comments left of them, an empty entry, the list last.
            "kind: List\nitems:\n  - a: 1\n# at column 0\n    # deeper\n  -\n  - a: \"two\n      lines\"\n",
            // Tabs inside an entry's block scalar are content.
            "items:\n- a: |\n    x\n    \ttabbed\n- b: 2\n- c: 3\n",
        ];
        for text in texts {
            let pieces = split_list_items(text).unwrap();
            assert!(pieces.items.len() >= 3, "{pieces:?}");
            assert_eq!(
                parse_list_in_parallel(text, usize::MAX),
                ListParse::Parsed(whole(text)),
                "{text}"
            );
        }
    }

    #[test]
    fn a_list_the_cut_could_misread_is_left_to_the_whole_document_parser() {
        for text in [
            // An anchor in one entry used in another.
            "items:\n- a: &x 1\n- b: *x\n",
            // A second `items` key (an error the whole parse reports).
            "items:\n- a: 1\n- b: 2\nitems: []\n",
            // Flow style, inline values, directives, tabs: not the plain layout.
            "items: [{a: 1}, {b: 2}]\n",
            "%YAML 1.2\n---\nitems:\n- a: 1\n- b: 2\n",
            "items:\n\t- a: 1\n",
            // A quoted scalar that runs over what looks like an entry.
            "items:\n- a: \"x\n- b: 2\"\n- c: 3\n",
            // A quoted scalar, before the real `items`, holding lines that read like a List
            // (the cut's header parses, with its marker inside the scalar).
            "note: \"x\nitems:\n- a: 1\n- b: 2\n\"\nitems: []\n",
            "note: 'x\nitems:\n- a: 1\n- b: 2\n'\nitems:\n- c: 3\n- d: 4\n",
            // A tab where indentation would be.
            "items:\n- a: 1\n\t- b: 2\n- c: 3\n",
        ] {
            assert!(
                matches!(parse_list_in_parallel(text, usize::MAX), ListParse::NotCut),
                "{text}"
            );
        }
        // One entry is not worth cutting.
        assert!(split_list_items("items:\n- a: 1\nkind: List\n").is_none());
    }

    /// Gateway API v1.6.1 experimental's CRDs from the corpus, and a `List` of them: what a
    /// snapshot of a cluster running that release holds.
    fn gateway_api_list() -> (Vec<Value>, Value) {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/gateway-api/v1.6.1/experimental-install.yaml");
        let text = std::fs::read_to_string(corpus).unwrap();
        let items: Vec<Value> = split_documents(&text)
            .iter()
            .filter_map(|doc| parse_document(doc, Limits::default()).unwrap())
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        (items, list)
    }

    #[test]
    fn a_snapshot_of_real_crds_parses_the_same_in_parallel() {
        let (items, list) = gateway_api_list();
        let snapshot = to_string(&list).unwrap();
        assert!(snapshot.len() >= PARALLEL_LIST_BYTES, "{}", snapshot.len());
        let pieces = split_list_items(&snapshot).unwrap();
        assert_eq!(pieces.items.len(), items.len());
        let doc = RawDocument {
            index: 1,
            line: 1,
            text: &snapshot,
        };
        assert_eq!(parse_document(&doc, Limits::default()).unwrap(), Some(list));
        // The document limit holds item by item: a List larger than it parses when every item
        // fits, and is refused when one does not.
        let largest = pieces.items.iter().map(|i| i.len()).max().unwrap();
        let fits = Limits {
            max_document_bytes: largest,
        };
        assert!(snapshot.len() > largest);
        assert!(parse_document(&doc, fits).unwrap().is_some());
        let too_small = Limits {
            max_document_bytes: largest - 1,
        };
        let biggest = pieces
            .items
            .iter()
            .position(|i| i.len() == largest)
            .unwrap();
        match parse_document(&doc, too_small) {
            Err(ParseFailure::TooLarge {
                bytes, item, line, ..
            }) => {
                assert_eq!((bytes, item), (largest, Some(biggest)));
                let start = pieces.items[biggest].as_ptr() as usize - snapshot.as_ptr() as usize;
                assert_eq!(line, Some(1 + snapshot[..start].matches('\n').count()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_pieces_of_a_snapshot_are_read_by_the_fast_path() {
        let (items, list) = gateway_api_list();
        let mut snapshots = vec![to_string(&list).unwrap()];
        // The snapshot scripts/bench.sh writes, when PyYAML is there to write it.
        let script = "import json, sys, yaml\n\
                      yaml.safe_dump(json.load(sys.stdin), sys.stdout, sort_keys=False, width=1000)";
        let child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            let input = serde_json::to_vec(&list).unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                // PyYAML missing: python exits early and the pipe closes.
                let _ = stdin.write_all(&input);
            });
            let output = child.wait_with_output().unwrap();
            writer.join().unwrap();
            if output.status.success() {
                snapshots.push(String::from_utf8(output.stdout).unwrap());
            }
        }
        for snapshot in &snapshots {
            let pieces = split_list_items(snapshot).unwrap();
            assert_eq!(pieces.items.len(), items.len());
            assert!(block_yaml::parse(&pieces.header).is_some());
            for piece in &pieces.items {
                let fast = block_yaml::parse(piece).expect("a piece the fast path reads");
                // Serialized, so that key order counts.
                assert_eq!(
                    serde_json::to_string(&fast).unwrap(),
                    serde_json::to_string(&whole(piece)).unwrap()
                );
            }
        }
        println!(
            "snapshots checked: {} (PyYAML's included if 2)",
            snapshots.len()
        );
    }

    #[test]
    fn json_is_read_as_yaml_would_read_it() {
        for text in [
            r#"{"a": [1, 2.5, -3, "x\u00e9", null, true], "b": {"c": {}}, "d": 1e3}"#,
            // Not JSON (a comment, an unquoted key): the YAML parser reads it.
            "{\"a\": 1, b: 2} # flow mapping\n",
        ] {
            let doc = &split_documents(text)[0];
            assert_eq!(
                parse_document(doc, Limits::default()).unwrap(),
                Some(whole(text))
            );
        }
        // JSON may be larger than the limit.
        let text = r#"{"a": "0123456789"}"#;
        let doc = &split_documents(text)[0];
        let limits = Limits {
            max_document_bytes: 10,
        };
        assert!(parse_document(doc, limits).unwrap().is_some());
        // Duplicate keys are refused in JSON too, on their own line.
        let doc = &split_documents("{\n  \"a\": 1,\n  \"a\": 2\n}")[0];
        match parse_document(doc, Limits::default()) {
            Err(ParseFailure::Syntax { message, line }) => {
                assert!(
                    message.starts_with("invalid JSON: duplicate key"),
                    "{message}"
                );
                assert_eq!(line, Some(3));
            }
            other => panic!("{other:?}"),
        }
        // Over the YAML limit, serde_json's error is the one reported, not the size.
        let doc = &split_documents("{\"a\": \"0123456789\",\n \"b\": }")[0];
        let limits = Limits {
            max_document_bytes: 10,
        };
        match parse_document(doc, limits) {
            Err(ParseFailure::Syntax { message, line }) => {
                assert!(message.starts_with("invalid JSON"), "{message}");
                assert_eq!(line, Some(2));
            }
            other => panic!("{other:?}"),
        }
        // Over 4 times the limit, JSON is refused as too large, with the JSON limit.
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(40));
        let doc = &split_documents(&big)[0];
        assert!(matches!(
            parse_document(doc, limits),
            Err(ParseFailure::TooLarge {
                limit: 40,
                json: true,
                ..
            })
        ));
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let docs = split_documents("a: 1\na: 2\n");
        assert!(parse_document(&docs[0], Limits::default()).is_err());
    }
}
