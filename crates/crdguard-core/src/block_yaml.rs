//! A fast path for the block-style YAML that tools emit, read straight into `serde_json::Value`.
//!
//! serde_yaml_ng (a port of libyaml) reads ~65 MB/s per core, and loading thousands of CRDs is
//! dominated by it. The YAML that controller-gen, kubectl, helm, PyYAML's `safe_dump` and
//! serde_yaml_ng itself write uses a small regular part of YAML: block mappings and sequences
//! nested by indentation, plain, quoted and block scalars, comments. [`parse`] reads that part
//! in one pass over the bytes, several times faster, and gives up on anything else.
//!
//! The contract: whenever [`parse`] returns `Some(v)`, `serde_yaml_ng::from_str::<StrictValue>`
//! on the same text returns `Ok` with a value equal to `v`, map keys in the same order. It
//! returns `None` whenever in doubt (a construct it does not handle, or input the slow path
//! would refuse: duplicate keys, bad indentation, tabs, control characters), and the caller
//! then parses the text with serde_yaml_ng exactly as before, so errors read the same.
//! Correctness beats coverage: rare forms are left to the slow path. Where YAML's rules are
//! subtle (block scalar indentation and chomping, plain and quoted scalar folding), the code
//! follows libyaml's scanner step by step, and the tests compare against serde_yaml_ng. Plain
//! scalars that are not surely strings or small decimal integers (`1.5`, `0x1F`, `~`, `.inf`),
//! and double-quoted scalars with `\` escapes, are handed to serde_yaml_ng one scalar at a time
//! rather than resolved here.
//!
//! Supported: block mappings (plain keys that resolve to strings, one-line quoted keys), block
//! sequences (also at their key's indentation, and with compact mappings in entries), plain
//! scalars over one or several lines, single- and double-quoted scalars over one or several
//! lines, literal and folded block scalars with any chomping and indentation indicator, flow
//! sequences of scalars on one line (`["CREATE", "UPDATE"]`), the empty flow mapping `{}`,
//! comments and blank lines. Everything else returns `None`: anchors, aliases, tags,
//! directives, document markers, `?` keys, keys that are not strings (`1:`, `true:`), other flow
//! collections, nested `- - x` entries, tabs outside scalars, `\r` and other line breaks, a BOM,
//! control characters, a document that is a lone scalar or starts indented on its first line
//! (what follows a `--- ` marker), nesting deeper than [`MAX_DEPTH`].

use serde_json::{Map, Value};

use crate::strict_value::StrictValue;

/// Collections nested deeper than this are left to serde_yaml_ng, which refuses more than 128
/// levels; it also bounds this parser's recursion.
const MAX_DEPTH: usize = 100;

/// libyaml refuses a simple key longer than 1,024 characters; leave long keys to it.
const MAX_KEY_BYTES: usize = 1000;

/// Up to this many keys, duplicates are looked for in a list; beyond, in the map being built
/// (as `strict_value.rs` does). Maps are allocated once, at their exact size, like there.
const SMALL_MAP: usize = 16;

/// Parses one YAML document (markers already split off) whose root is a block mapping or
/// sequence. `None` when the text is outside the subset this parser fully understands.
pub(crate) fn parse(text: &str) -> Option<Value> {
    if !plain_text(text.as_bytes()) {
        return None;
    }
    Parser::new(text).document().ok()
}

/// Where a quoted scalar ends, and what its text holds.
struct ClosingQuote {
    /// The index of the closing quote.
    at: usize,
    /// An escape inside: `''` in single quotes, `\` in double quotes.
    escaped: bool,
    /// A line break inside.
    multiline: bool,
}

/// The closing quote of the quoted scalar whose opening quote is at `p`, looked for before
/// `limit` (a line's end for a key, the text's end for a value); `None` when there is none.
fn closing_quote(s: &[u8], p: usize, limit: usize) -> Option<ClosingQuote> {
    let quote = s[p];
    let mut i = p + 1;
    let (mut escaped, mut multiline) = (false, false);
    while i < limit {
        match s[i] {
            b if b == quote => {
                if quote == b'\'' && s.get(i + 1) == Some(&b'\'') {
                    escaped = true;
                    i += 2;
                    continue;
                }
                return Some(ClosingQuote {
                    at: i,
                    escaped,
                    multiline,
                });
            }
            b'\\' if quote == b'"' => {
                escaped = true;
                i += 2;
                continue;
            }
            b'\n' => multiline = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the text holds only characters libyaml reads as plain text: no control characters
/// (`\r` included), no line breaks other than `\n` (NEL, LS, PS), no byte order mark, no
/// U+FFFE/U+FFFF. (Directives and document markers are refused where lines start.)
fn plain_text(s: &[u8]) -> bool {
    // Bytes that need a closer look: controls other than `\n` and tab, DEL, and non-ASCII.
    let odd = |b: u8| (b < 0x20 && b != b'\n' && b != b'\t') || b >= 0x7f;
    // Chunks of plain ASCII are checked without branches (the compiler vectorizes the fold).
    const CHUNK: usize = 32;
    let mut start = 0;
    while start < s.len() {
        let end = (start + CHUNK).min(s.len());
        if s[start..end].iter().fold(false, |any, &b| any | odd(b)) {
            for i in start..end {
                if odd(s[i]) && !allowed_at(s, i) {
                    return false;
                }
            }
        }
        start = end;
    }
    true
}

/// Whether the non-ASCII or control byte at `i` is allowed (see [`plain_text`]).
fn allowed_at(s: &[u8], i: usize) -> bool {
    let (next, after) = (s.get(i + 1).copied(), s.get(i + 2).copied());
    match s[i] {
        // U+0080..U+009F: C1 controls, NEL among them.
        0xc2 => next.is_some_and(|c| c >= 0xa0),
        // U+2028, U+2029: line and paragraph separators.
        0xe2 => !(next == Some(0x80) && matches!(after, Some(0xa8 | 0xa9))),
        // U+FEFF (BOM), U+FFFE, U+FFFF.
        0xef => !matches!(
            (next, after),
            (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf))
        ),
        b => b >= 0x80,
    }
}

/// Whether a line starting at `i` is a directive or a document marker.
fn marker_line(s: &[u8], i: usize) -> bool {
    let rest = &s[i.min(s.len())..];
    rest.first() == Some(&b'%')
        || ((rest.starts_with(b"---") || rest.starts_with(b"..."))
            && rest
                .get(3)
                .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n')))
}

/// The fast path does not apply; the caller uses serde_yaml_ng.
struct Bail;

type Parsed<T> = Result<T, Bail>;

/// A line with content (not blank, not only a comment). `end` is the index of its `\n`, or the
/// text's length.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    indent: usize,
    end: usize,
}

impl Line {
    fn content(self) -> usize {
        self.start + self.indent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    /// The next line with content, where the structure continues.
    cur: Option<Line>,
    depth: usize,
    /// The entries of the mappings being read, innermost last: each mapping is allocated once,
    /// at its exact size, when complete.
    entries: Vec<(String, Value)>,
    /// The same for the items of sequences.
    items: Vec<Value>,
    /// Scratch space for scalars built piece by piece, copied out at their exact size.
    buf: String,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            s: text.as_bytes(),
            cur: None,
            depth: 0,
            entries: Vec::new(),
            items: Vec::new(),
            buf: String::new(),
        }
    }

    fn document(&mut self) -> Parsed<Value> {
        self.advance(0)?;
        let line = self.cur.ok_or(Bail)?;
        // Text after a `---` marker starts on the marker's line, where a block collection may
        // not start; an indented first line may be such a remainder.
        if line.start == 0 && line.indent > 0 {
            return Err(Bail);
        }
        let value = self.collection(line)?.ok_or(Bail)?;
        if self.cur.is_some() {
            return Err(Bail);
        }
        Ok(value)
    }

    fn line_end(&self, from: usize) -> usize {
        self.s
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(self.s.len(), |i| from + i)
    }

    /// The start of the line after the one ending at `end`.
    fn next_line(&self, end: usize) -> usize {
        (end + 1).min(self.s.len())
    }

    /// Moves `cur` to the first line with content at or after `pos` (a line start).
    fn advance(&mut self, mut pos: usize) -> Parsed<()> {
        let s = self.s;
        while pos < s.len() {
            let end = self.line_end(pos);
            let i = pos + spaces(s, pos, end - pos);
            if i < end {
                match s[i] {
                    b'\t' => return Err(Bail),
                    b'#' => {}
                    _ if i == pos && marker_line(s, pos) => return Err(Bail),
                    _ => {
                        self.cur = Some(Line {
                            start: pos,
                            indent: i - pos,
                            end,
                        });
                        return Ok(());
                    }
                }
            }
            pos = end + 1;
        }
        self.cur = None;
        Ok(())
    }

    /// Sets `cur` to a line known to have content (as [`Parser::advance`] would find it).
    fn set_cur(&mut self, line: Line) -> Parsed<()> {
        if line.indent == 0 && marker_line(self.s, line.start) {
            return Err(Bail);
        }
        self.cur = Some(line);
        Ok(())
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        Ok(())
    }

    fn skip_spaces(&self, p: usize, end: usize) -> Parsed<usize> {
        let p = p + spaces(self.s, p, end.saturating_sub(p));
        if p < end && self.s[p] == b'\t' {
            return Err(Bail);
        }
        Ok(p)
    }

    /// Whether only blanks and a comment follow `p` on its line.
    fn rest_is_blank(&self, p: usize, end: usize) -> Parsed<bool> {
        let i = self.skip_spaces(p, end)?;
        Ok(i == end || (i > p && self.s[i] == b'#'))
    }

    /// Whether a block sequence entry (`-` followed by a space or the line's end) is at `p`.
    fn is_entry(&self, p: usize, end: usize) -> Parsed<bool> {
        if self.s.get(p) != Some(&b'-') {
            return Ok(false);
        }
        match self.s.get(p + 1) {
            _ if p + 1 >= end => Ok(true),
            Some(b' ') => Ok(true),
            Some(b'\t') => Err(Bail),
            _ => Ok(false),
        }
    }

    /// The block collection starting on `line` (the current line), or `None` if it holds a
    /// scalar.
    fn collection(&mut self, line: Line) -> Parsed<Option<Value>> {
        let c = line.content();
        if self.is_entry(c, line.end)? {
            return self.sequence(line.indent).map(Some);
        }
        match self.key_at(c, line.end)? {
            Some(key) => self.mapping(line.indent, key, line).map(Some),
            None => Ok(None),
        }
    }

    /// A node starting on its own line (`line`, the current line) more indented than `owner`,
    /// the indentation of the collection holding it.
    fn node(&mut self, owner: usize, line: Line) -> Parsed<Value> {
        match self.collection(line)? {
            Some(value) => Ok(value),
            None => self.inline(owner, line.content(), line),
        }
    }

    /// A block sequence whose entries are at column `n`, starting at the current line.
    fn sequence(&mut self, n: usize) -> Parsed<Value> {
        self.enter()?;
        let base = self.items.len();
        while let Some(line) = self.cur {
            if line.indent > n {
                return Err(Bail);
            }
            if line.indent < n || !self.is_entry(line.content(), line.end)? {
                // The caller decides whether what follows may follow.
                break;
            }
            let item = self.entry(n, line)?;
            self.items.push(item);
        }
        self.depth -= 1;
        Ok(Value::Array(self.items.drain(base..).collect()))
    }

    /// One sequence entry, whose `-` starts `line`'s content.
    fn entry(&mut self, n: usize, line: Line) -> Parsed<Value> {
        let p = self.skip_spaces(line.content() + 1, line.end)?;
        if p == line.end || self.s[p] == b'#' {
            // The value is on the following lines, or null.
            self.advance(self.next_line(line.end))?;
            return match self.cur {
                Some(next) if next.indent > n => self.node(n, next),
                _ => Ok(Value::Null),
            };
        }
        if self.is_entry(p, line.end)? {
            return Err(Bail);
        }
        if let Some(key) = self.key_at(p, line.end)? {
            // A compact mapping: its keys are at the column of the first one.
            return self.mapping(p - line.start, key, line);
        }
        self.inline(n, p, line)
    }

    /// A block mapping whose keys are at column `m`; its first key is `first` on `line`.
    fn mapping(&mut self, m: usize, first: (String, usize), line: Line) -> Parsed<Value> {
        self.enter()?;
        let base = self.entries.len();
        // Past SMALL_MAP keys, duplicates are looked up in a map rather than a list.
        let mut large: Option<Map<String, Value>> = None;
        let ((mut key, mut after), mut line) = (first, line);
        loop {
            let duplicate = match &large {
                Some(map) => map.contains_key(&key),
                None => self.entries[base..].iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                return Err(Bail);
            }
            let value = self.map_value(m, after, line)?;
            match &mut large {
                Some(map) => {
                    map.insert(key, value);
                }
                None => {
                    self.entries.push((key, value));
                    let len = self.entries.len() - base;
                    if len > SMALL_MAP {
                        let mut map = Map::with_capacity(len * 2);
                        map.extend(self.entries.drain(base..));
                        large = Some(map);
                    }
                }
            }
            match self.cur {
                Some(next) if next.indent == m => {
                    line = next;
                    (key, after) = self.key_at(next.content(), next.end)?.ok_or(Bail)?;
                }
                Some(next) if next.indent > m => return Err(Bail),
                _ => break,
            }
        }
        self.depth -= 1;
        let map = large.unwrap_or_else(|| {
            let mut map = Map::with_capacity(self.entries.len() - base);
            map.extend(self.entries.drain(base..));
            map
        });
        Ok(Value::Object(map))
    }

    /// The value of a key of a mapping at column `m`; `after` is just past the key's `:`.
    fn map_value(&mut self, m: usize, after: usize, line: Line) -> Parsed<Value> {
        let p = self.skip_spaces(after, line.end)?;
        // `#` here follows a blank: a key's `:` is always followed by a space or the line end.
        if p == line.end || self.s[p] == b'#' {
            self.advance(self.next_line(line.end))?;
            return match self.cur {
                Some(next) if next.indent > m => self.node(m, next),
                // A sequence may sit at its key's indentation.
                Some(next) if next.indent == m && self.is_entry(next.content(), next.end)? => {
                    self.sequence(m)
                }
                _ => Ok(Value::Null),
            };
        }
        self.inline(m, p, line)
    }

    /// A scalar (or empty flow collection) starting at `p` on `line`; `owner` is the column of
    /// the collection holding it (libyaml's current indentation).
    fn inline(&mut self, owner: usize, p: usize, line: Line) -> Parsed<Value> {
        match self.s[p] {
            b'|' | b'>' => self.block_scalar(owner, p, line),
            b'\'' | b'"' => self.quoted(p),
            b'[' => self.flow_sequence(p, line),
            b'{' => {
                // Only the empty flow mapping.
                let close = self.skip_spaces(p + 1, line.end)?;
                if self.s.get(close) != Some(&b'}') || !self.rest_is_blank(close + 1, line.end)? {
                    return Err(Bail);
                }
                self.advance(self.next_line(line.end))?;
                Ok(Value::Object(Map::new()))
            }
            _ => self.plain(owner, p, line),
        }
    }

    /// A flow sequence of scalars on one line (`[]`, `["CREATE", "UPDATE"]`, `[ a , b ]`), as
    /// hand-written manifests use. Anything else in brackets (nesting, flow mappings, `:`,
    /// escapes, several lines, a trailing comma) is left to the slow path.
    fn flow_sequence(&mut self, p: usize, line: Line) -> Parsed<Value> {
        self.enter()?;
        let (s, end) = (self.s, line.end);
        let mut items = Vec::new();
        let mut i = self.skip_spaces(p + 1, end)?;
        if i < end && s[i] == b']' {
            i += 1;
        } else {
            loop {
                if i >= end {
                    return Err(Bail);
                }
                let quote = s[i];
                let after = if quote == b'\'' || quote == b'"' {
                    let mut j = i + 1;
                    let mut escaped = false;
                    loop {
                        match s.get(j) {
                            _ if j >= end => return Err(Bail),
                            Some(b'\\') if quote == b'"' => return Err(Bail),
                            Some(&b) if b == quote => {
                                if quote == b'\'' && s.get(j + 1) == Some(&b'\'') {
                                    escaped = true;
                                    j += 2;
                                    continue;
                                }
                                break;
                            }
                            _ => j += 1,
                        }
                    }
                    let inner = &self.text[i + 1..j];
                    items.push(Value::String(if escaped {
                        inner.replace("''", "'")
                    } else {
                        inner.to_owned()
                    }));
                    j + 1
                } else {
                    if !plain_start(s, i, end) {
                        return Err(Bail);
                    }
                    let mut j = i;
                    let mut text_end = i;
                    while j < end && !matches!(s[j], b',' | b']') {
                        match s[j] {
                            // Flow indicators, `:` and comments: too close to YAML's corners.
                            b'[' | b'{' | b'}' | b':' | b'#' | b'\t' => return Err(Bail),
                            b' ' => {}
                            _ => text_end = j + 1,
                        }
                        j += 1;
                    }
                    items.push(resolve_plain(&self.text[i..text_end])?);
                    j
                };
                i = self.skip_spaces(after, end)?;
                match s.get(i) {
                    Some(b',') if i < end => {
                        i = self.skip_spaces(i + 1, end)?;
                        if s.get(i) == Some(&b']') {
                            return Err(Bail);
                        }
                    }
                    Some(b']') if i < end => {
                        i += 1;
                        break;
                    }
                    _ => return Err(Bail),
                }
            }
        }
        if !self.rest_is_blank(i, end)? {
            return Err(Bail);
        }
        self.advance(self.next_line(end))?;
        self.depth -= 1;
        items.shrink_to_fit();
        Ok(Value::Array(items))
    }

    /// A mapping key at `p`: its text and the position after its `:`. `None` if the line holds
    /// no key there (a scalar).
    fn key_at(&self, p: usize, end: usize) -> Parsed<Option<(String, usize)>> {
        let s = self.s;
        let quote = s[p];
        if quote == b'\'' || quote == b'"' {
            // A quoted scalar running past its line is a value, never a key.
            let Some(ClosingQuote { at: i, escaped, .. }) = closing_quote(s, p, end) else {
                return Ok(None);
            };
            if s.get(i + 1) != Some(&b':') {
                return Ok(None);
            }
            if !(i + 2 == end || s.get(i + 2) == Some(&b' ')) {
                return Err(Bail);
            }
            if (escaped && quote == b'"') || i - p > MAX_KEY_BYTES {
                return Err(Bail);
            }
            let inner = &self.text[p + 1..i];
            let key = if escaped {
                inner.replace("''", "'")
            } else {
                inner.to_owned()
            };
            return Ok(Some((key, i + 2)));
        }
        if !plain_start(s, p, end) {
            return Ok(None);
        }
        let mut text_end = p;
        for i in p..end {
            match s[i] {
                b'\t' => return Err(Bail),
                b':' if i + 1 == end || s[i + 1] == b' ' => {
                    if text_end - p > MAX_KEY_BYTES {
                        return Err(Bail);
                    }
                    let text = &self.text[p..text_end];
                    // Keys YAML reads as numbers, booleans or null are left to the slow path
                    // (strict_value.rs turns them into their text).
                    return match resolve_plain(text)? {
                        Value::String(key) => Ok(Some((key, i + 1))),
                        _ => Err(Bail),
                    };
                }
                b'#' if i > p && s[i - 1] == b' ' => return Ok(None),
                b' ' => {}
                _ => text_end = i + 1,
            }
        }
        Ok(None)
    }

    /// The extent of a plain scalar's text from `p` to the line's `end`: where its text ends
    /// (trailing blanks dropped) and whether a comment follows. Bails where a `: ` would make
    /// it a key (an error, or a mapping the caller did not expect) and on tabs.
    fn plain_line(&self, p: usize, end: usize) -> Parsed<(usize, bool)> {
        let s = self.s;
        let mut text_end = p;
        for i in p..end {
            match s[i] {
                b'\t' => return Err(Bail),
                b':' if i + 1 == end || s[i + 1] == b' ' => return Err(Bail),
                b'#' if i > p && s[i - 1] == b' ' => return Ok((text_end, true)),
                b' ' => {}
                _ => text_end = i + 1,
            }
        }
        Ok((text_end, false))
    }

    /// A plain scalar, possibly continued on more indented lines (folded as libyaml's
    /// `yaml_parser_scan_plain_scalar` does: a line break between two lines is a space, each
    /// blank line a `\n`, blanks around line breaks dropped).
    fn plain(&mut self, owner: usize, p: usize, line: Line) -> Parsed<Value> {
        let s = self.s;
        if !plain_start(s, p, line.end) {
            return Err(Bail);
        }
        let (text_end, comment) = self.plain_line(p, line.end)?;
        let first = &self.text[p..text_end];
        let mut resume = self.next_line(line.end);
        let mut folded = false;
        // The line the scalar ends at, when it has content: where the structure resumes.
        let mut next = None;
        // A comment ends the scalar; only a line more indented than the owner continues it.
        if !comment {
            let mut pos = resume;
            let mut breaks = 0usize;
            while pos < s.len() {
                let end = self.line_end(pos);
                let i = pos + spaces(s, pos, end - pos);
                if i == end {
                    breaks += 1;
                    pos = self.next_line(end);
                    continue;
                }
                if s[i] == b'\t' {
                    return Err(Bail);
                }
                if i - pos <= owner || s[i] == b'#' {
                    if s[i] != b'#' {
                        next = Some(Line {
                            start: pos,
                            indent: i - pos,
                            end,
                        });
                    }
                    break;
                }
                let (content_end, comment) = self.plain_line(i, end)?;
                if comment {
                    // The scalar would end at it and what follows be misplaced; rare.
                    return Err(Bail);
                }
                if !folded {
                    self.buf.clear();
                    self.buf.push_str(first);
                    folded = true;
                }
                if breaks == 0 {
                    self.buf.push(' ');
                } else {
                    self.buf.extend(std::iter::repeat_n('\n', breaks));
                }
                self.buf.push_str(&self.text[i..content_end]);
                breaks = 0;
                pos = self.next_line(end);
                resume = pos;
            }
        }
        match next {
            Some(line) => self.set_cur(line)?,
            None => self.advance(resume)?,
        }
        if !folded {
            return resolve_plain(first);
        }
        // Several lines: only text that is surely a string is read here (it always is: it
        // holds a blank).
        if !surely_string(&self.buf) {
            return Err(Bail);
        }
        Ok(Value::String(self.buf.as_str().to_owned()))
    }

    /// A single- or double-quoted scalar starting at `p`. One-line scalars without escapes
    /// are read here; the others (line folding, `\` escapes) go to serde_yaml_ng alone.
    fn quoted(&mut self, p: usize) -> Parsed<Value> {
        let s = self.s;
        let quote = s[p];
        let ClosingQuote {
            at: i,
            escaped,
            multiline,
        } = closing_quote(s, p, s.len()).ok_or(Bail)?;
        let end = self.line_end(i);
        if !self.rest_is_blank(i + 1, end)? {
            return Err(Bail);
        }
        let inner = &self.text[p + 1..i];
        let value = if !escaped && !multiline {
            inner.to_owned()
        } else if quote == b'\'' && !multiline {
            inner.replace("''", "'")
        } else if quote == b'\'' || !escaped {
            self.fold_quoted(inner, quote == b'\'')?
        } else {
            // Escapes are many; serde_yaml_ng reads the scalar alone. libyaml puts no
            // indentation rule on a quoted scalar's lines, so it reads as in its document.
            match serde_yaml_ng::from_str::<StrictValue>(&self.text[p..=i]) {
                Ok(StrictValue(Value::String(text))) => text,
                _ => return Err(Bail),
            }
        };
        self.advance(self.next_line(end))?;
        Ok(Value::String(value))
    }

    /// The value of a quoted scalar over several lines, without `\` escapes (`inner`: between
    /// the quotes), folded as libyaml's `yaml_parser_scan_flow_scalar` does: blanks around a
    /// line break are dropped, the break becomes a space, each further (blank) line a `\n`.
    fn fold_quoted(&mut self, inner: &str, single: bool) -> Parsed<String> {
        let blank = |c: char| c == ' ' || c == '\t';
        let out = &mut self.buf;
        out.clear();
        let mut lines = inner.split('\n');
        let first = lines.next().unwrap_or_default();
        out.push_str(first.trim_end_matches(blank));
        let mut breaks = 0usize;
        let mut lines = lines.peekable();
        while let Some(line) = lines.next() {
            // A marker or directive inside a scalar is an error to libyaml (or a doubt).
            if marker_line(line.as_bytes(), 0) {
                return Err(Bail);
            }
            let last = lines.peek().is_none();
            let text = line.trim_start_matches(blank);
            // Blanks before the closing quote are kept.
            let text = if last {
                text
            } else {
                text.trim_end_matches(blank)
            };
            if text.is_empty() && !last {
                breaks += 1;
                continue;
            }
            if breaks == 0 {
                out.push(' ');
            } else {
                out.extend(std::iter::repeat_n('\n', breaks));
            }
            breaks = 0;
            out.push_str(text);
        }
        Ok(if single && out.contains("''") {
            out.replace("''", "'")
        } else {
            out.as_str().to_owned()
        })
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at `p`, read as libyaml's
    /// `yaml_parser_scan_block_scalar` reads it (indentation given or detected from the first
    /// lines, then chomping).
    fn block_scalar(&mut self, owner: usize, p: usize, line: Line) -> Parsed<Value> {
        let s = self.s;
        let literal = s[p] == b'|';
        // Chomping and indentation indicators, in either order (`|-`, `|2-`, `>+1`).
        let mut i = p + 1;
        let mut chomp = Chomp::Clip;
        let mut increment = 0usize;
        while i < line.end {
            match s[i] {
                b'-' if chomp == Chomp::Clip => chomp = Chomp::Strip,
                b'+' if chomp == Chomp::Clip => chomp = Chomp::Keep,
                d @ b'1'..=b'9' if increment == 0 => increment = usize::from(d - b'0'),
                _ => break,
            }
            i += 1;
        }
        if !self.rest_is_blank(i, line.end)? {
            return Err(Bail);
        }
        // An explicit indentation counts from the holding collection's (libyaml's
        // `parser->indent`, never -1 here: the root is a collection).
        let mut indent = if increment > 0 { owner + increment } else { 0 };
        let (mut q, mut col, mut trailing) =
            self.block_breaks(self.next_line(line.end), &mut indent, owner)?;
        let mut out = std::mem::take(&mut self.buf);
        out.clear();
        let mut leading_break = false;
        let mut leading_blank = false;
        while col == indent && q < s.len() {
            let trailing_blank = matches!(s[q], b' ' | b'\t');
            if !literal && leading_break && !leading_blank && !trailing_blank {
                // Folding: a line break between two lines of text is a space, unless blank
                // lines stand between them (they are kept as line breaks).
                if trailing == 0 {
                    out.push(' ');
                }
            } else if leading_break {
                out.push('\n');
            }
            leading_break = false;
            out.extend(std::iter::repeat_n('\n', trailing));
            leading_blank = trailing_blank;
            let end = self.line_end(q);
            out.push_str(&self.text[q..end]);
            if end == s.len() {
                q = end;
                break;
            }
            leading_break = true;
            (q, col, trailing) = self.block_breaks(end + 1, &mut indent, owner)?;
        }
        if chomp != Chomp::Strip && leading_break {
            out.push('\n');
        }
        if chomp == Chomp::Keep {
            out.extend(std::iter::repeat_n('\n', trailing));
        }
        // The scalar ends at a less indented line (or the end); the structure resumes there.
        let value = Value::String(out.as_str().to_owned());
        self.buf = out;
        if q < s.len() && s[q] != b'#' {
            // A less indented line with content (block_breaks stops at nothing else).
            self.set_cur(Line {
                start: q - col,
                indent: col,
                end: self.line_end(q),
            })?;
        } else {
            self.advance(if q < s.len() { q - col } else { q })?;
        }
        Ok(value)
    }

    /// libyaml's `yaml_parser_scan_block_scalar_breaks`: from `q` (a line start), skips blank
    /// lines and the indentation of the next non-blank one. Returns where it stopped, the
    /// column there and how many line breaks it passed. Determines `indent` when it is 0.
    fn block_breaks(
        &self,
        mut q: usize,
        indent: &mut usize,
        owner: usize,
    ) -> Parsed<(usize, usize, usize)> {
        let s = self.s;
        let mut breaks = 0usize;
        let mut max_indent = 0usize;
        loop {
            let col = spaces(s, q, if *indent == 0 { usize::MAX } else { *indent });
            q += col;
            max_indent = max_indent.max(col);
            if (*indent == 0 || col < *indent) && s.get(q) == Some(&b'\t') {
                return Err(Bail);
            }
            if s.get(q) != Some(&b'\n') {
                if *indent == 0 {
                    *indent = max_indent.max(owner + 1);
                }
                return Ok((q, col, breaks));
            }
            q += 1;
            breaks += 1;
        }
    }
}

/// How many spaces follow `from`, at most `max`. Indentation in CRDs runs to dozens of spaces;
/// they are counted eight at a time.
fn spaces(s: &[u8], from: usize, max: usize) -> usize {
    let limit = max.min(s.len().saturating_sub(from));
    let mut n = 0;
    while n + 8 <= limit && s[from + n..from + n + 8] == *b"        " {
        n += 8;
    }
    while n < limit && s[from + n] == b' ' {
        n += 1;
    }
    n
}

/// Whether a plain scalar may start at `p`: not at an indicator (`-` only when followed by
/// text, as in `-1`; `?` and `:` never, to keep things simple).
fn plain_start(s: &[u8], p: usize, end: usize) -> bool {
    match s[p] {
        b'-' => p + 1 < end && !matches!(s[p + 1], b' ' | b'\t'),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' | b'\t' => false,
        _ => true,
    }
}

/// Whether serde_yaml_ng surely reads this plain scalar as a string. Its resolver
/// (`visit_untagged_scalar`) turns into null only the empty text, `~` and `null` spellings,
/// into booleans only `true`/`false` spellings, and into numbers only text starting with a
/// digit, a sign or a dot (`.inf`, `.5`) and holding no blank (Rust's number parsers take
/// none); YAML 1.1 words (`yes`, `on`, `y`) stay strings.
fn surely_string(v: &str) -> bool {
    match v.as_bytes().first() {
        None => false,
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'~') => v.bytes().any(|b| b == b' ' || b == b'\n'),
        Some(_) => !matches!(
            v,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        ),
    }
}

/// A plain scalar's value as serde_yaml_ng resolves it: strings and small decimal integers
/// here, anything else by serde_yaml_ng itself, on the scalar alone.
fn resolve_plain(v: &str) -> Parsed<Value> {
    if surely_string(v) {
        return Ok(Value::String(v.to_owned()));
    }
    if let Some(number) = decimal(v) {
        return Ok(number);
    }
    // As a document, text starting with a marker would be read as the marker.
    if v.starts_with("---") || v.starts_with("...") {
        return Err(Bail);
    }
    match serde_yaml_ng::from_str::<StrictValue>(v) {
        Ok(StrictValue(value)) if !(value.is_array() || value.is_object()) => Ok(value),
        _ => Err(Bail),
    }
}

/// A decimal integer without leading zeros and small enough for any integer type
/// (serde_yaml_ng gives it to `visit_u64`, or `visit_i64` when negative).
fn decimal(v: &str) -> Option<Value> {
    let (negative, digits) = match v.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, v),
    };
    if digits.is_empty()
        || digits.len() > 18
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    match (negative, n) {
        // `-0` is left to the slow path.
        (true, 0) => None,
        (true, n) => Some(Value::from(-n)),
        (false, n) => Some(Value::from(n.unsigned_abs())),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::yaml::split_documents;

    fn slow(text: &str) -> Result<Value, String> {
        serde_yaml_ng::from_str::<StrictValue>(text)
            .map(|StrictValue(value)| value)
            .map_err(|e| e.to_string())
    }

    /// The contract: an answer from the fast path is the slow path's, key order included.
    fn contract(text: &str) -> Option<Value> {
        let fast = parse(text);
        if let Some(fast) = &fast {
            match slow(text) {
                Ok(slow) => assert_eq!(
                    serde_json::to_string(fast).unwrap(),
                    serde_json::to_string(&slow).unwrap(),
                    "fast and slow paths differ on {text:?}"
                ),
                Err(e) => panic!("the fast path read what the slow path refuses ({e}): {text:?}"),
            }
        }
        fast
    }

    fn handled(text: &str) -> Value {
        contract(text).unwrap_or_else(|| panic!("not handled by the fast path: {text:?}"))
    }

    #[test]
    fn reads_the_block_subset_as_serde_yaml_ng_does() {
        for text in [
            // Mappings, nesting, key order, blank and comment lines.
            "b: 1\na: 2\nc:\n  z: x\n  y: w\n",
            "# head\n\na: 1 # trailing\n  # deeper comment\nb:\n\n   # x\n   c: d\n# end\n",
            "kind: CustomResourceDefinition\nmetadata:\n  annotations:\n    controller-gen.kubebuilder.io/version: v0.16.1\n  name: x.y.io\n",
            "x-kubernetes-preserve-unknown-fields: true\napp.kubernetes.io/name: a\n/path: b\n_u: c\n",
            "a:\nb:   \nc: # comment only\nd: ''\n",
            "'quoted key': 1\n\"dq key\": 2\n'it''s': 3\n'': empty\n",
            "key with spaces: v\nkey  : trailing blanks before the colon\na:b: colon in key\n",
            "url: http://example.com:8080/x\nre: a#b\nmsg: it's a test, [not] {flow}\n",
            "éà: unicode key\nv: héllo ✓\n",
            // Sequences: indentless, indented, compact mappings, values on the next lines.
            "a:\n- x\n- y\nb: 1\n",
            "a:\n  - x\n  -   y\nb: 1\n",
            "- name: x\n  type: y\n- name: z\n",
            "items:\n- apiVersion: v1\n  spec:\n    versions:\n    - name: v1\n      served: true\n    - name: v2\n",
            "-\n  a: 1\n-\n- b\n-   c: 3\n    d: 4\n",
            "- a:\n  - x\n  b: 2\n- a:\n- y\n",
            "-\n  - nested\n  - seq\n- x\n",
            "a:\n  b:\n    c:\n      d:\n      - e\n",
            "# an indented root, not on the first line\n  - apiVersion: v1\n    kind: X\n",
            // Scalars on their own line.
            "a:\n  plain on the next line\nb:\n  'quoted'\nc:\n  |\n    block\n",
            // Plain scalars over several lines.
            "a: this is a long\n  string that wraps\n\n  with a blank line\n\n\n  and two\nb: 2\n",
            "- one\n  two\n- three\n   four   \n- 1\n  2\n- .5\n\n  x\n- ~\n  a\n- null\n  b\n",
            "a: x - y\n  - z\n",
            "- a: word\n    next\n  b: 1\n",
            // Quoted scalars.
            "a: 'x''y'\nb: \"dq\"\nc: ''\nd: \"\"\ne: '  spaced  '\nf: \"a # not a comment\"  # comment\n",
            "a: 'a long single-quoted\n  string, folded\n\n  with a break'\nb: 1\n",
            "a: \"escapes \\t \\\" \\\\ \\u00e9 \\x41\"\nb: \"multi\n  line \\\n  joined\"\n",
            "- 'x: y'\n- \"- z\"\n- '# no'\n",
            // Block scalars.
            "a: |-\n  line one\n\n  line three\n    indented\nb: 1\n",
            "a: |\n  x\n\n\nb: |+\n  y\n\n\nc: >\n  folded\n  text\n\n  para\n   more\n  end\nd: >-\n  z\n",
            "description: |-\n    four spaces\n    # not a comment\n  # a comment\nnext: 1\n",
            "a: |\n  text\n\n# comment\nb: 1\n",
            "- |\n  entry\n- >-\n  folded\n  entry\n",
            "a: |   # comment\n  x\nb: |\nc: >+\n",
            "a: |\n  no newline at the end",
            "a: |2-\n    indented first line\n  then less\nb: >1+\n  x\n\n",
            "- |2\n    y\n- >-1\n x\n",
            "- a: |+2\n      x\n  b: >-3\n     y\n     z\n",
            "a: |+\n  keep\n\n",
            // Flow: only the empty collections.
            "a: []\nb: {}\nc:\n- []\n- {}  # comment\nd: [ ]\ne: { }\n",
            "a: [x, 'y', \"z\", 1, -2.5, null, true, 'it''s', \"[,]\"]\nb:   [ \"CREATE\" , \"UPDATE\" ]\n",
            "- [Deny] # comment\n- [a b, c]\n",
            // Numbers, booleans and nulls as the slow path resolves them.
            "a: 1\nb: -2\nc: 0\nd: 1.5\ne: .inf\nf: -.inf\ng: .nan\nh: 0x1F\ni: 0o17\nj: +1\nk: 1e3\n",
            "a: true\nb: False\nc: null\nd: ~\ne: yes\nf: no\ng: on\nh: off\ni: y\nj: n\nk: =\nl: <<\n",
            "a: 0123\nb: 1_000\nc: 2024-01-01\nd: 12:30\ne: 1.2.3\nf: -0\ng: 99999999999999999999999999999999999999999\n",
            "a: 18446744073709551615\nb: -9223372036854775808\nc: 9223372036854775808\n",
            "a: -foo\nb: -1 # comment\nc: ^[a-z]$\n",
        ] {
            handled(text);
        }
        // No trailing newline, and the empty last line of a document cut before a marker.
        assert_eq!(handled("a: b")["a"], "b");
        assert_eq!(handled("a: 1\n\n")["a"], 1);
    }

    #[test]
    fn leaves_everything_else_to_the_slow_path() {
        for text in [
            "",
            "\n\n",
            "# only a comment\n",
            "plain scalar document\n",
            "'quoted document'\n",
            "|\n  block document\n",
            "[a, b]\n",
            "{a: 1}\n",
            // Anchors, aliases, tags, directives, markers, complex keys.
            "a: &x 1\nb: *x\n",
            "a: !tag x\n",
            "!!map\na: 1\n",
            "&a a: 1\n",
            "%YAML 1.1\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a: 1\n...\n",
            "? a\n: b\n",
            "a: ?x\n",
            // Flow collections with content.
            "a: [[1], 2]\n",
            "a: [1, 2\n  , 3]\n",
            "a: [1, 2,]\n",
            "a: [1, , 2]\n",
            "a: [x: 1]\n",
            "a: [\"\\t\"]\n",
            "a: [x] y\n",
            "a: {b: 1}\n",
            "- [x, {a: 1}]\n",
            // Duplicate keys (the slow path refuses them).
            "a: 1\na: 2\n",
            "a: 1\n'a': 2\n",
            "m:\n  x: 1\n  y: 2\n  x: 3\n",
            // Keys that are not strings.
            "1: a\n",
            "true: a\n",
            "null: a\n",
            "~: a\n",
            // Tabs, carriage returns, BOM, other line breaks, control characters.
            "a:\t1\n",
            "\ta: 1\n",
            "a:\n\t- x\n",
            "a: 1\r\nb: 2\r\n",
            "\u{feff}a: 1\n",
            "a: x\u{2028}y\n",
            "a: x\u{85}y\n",
            "a: x\u{7}y\n",
            "a: 'x\u{0}'\n",
            // Bad indentation and structural surprises.
            "a: 1\n b: 2\n",
            "a:\n    b: 1\n  c: 2\n",
            "- a\nb: 1\n",
            "a: 1\n- b\n",
            "- - x\n",
            "a: - x\n",
            "a: b: c\n",
            "a: x\n  b: y\n",
            "a: x\n  # comment\n  more\n",
            "a: 'x' y\n",
            "a: 'unterminated\n",
            "a: \"x\":\n",
            // libyaml takes the indentation from the longer blank line: `x` is left out.
            "a: |\n     \n  x\n",
            "  a: 1\nb: 2\n",
            " a: 1\n",
            "a\nb: c\n",
            // Content on the first line, indented: may be what follows a `---` marker.
            "  - apiVersion: v1\n    kind: X\n",
            // Block scalar headers not handled, reserved indicators.
            "a: |0\n   x\n",
            "a: |10\n   x\n",
            "a: |--\n x\n",
            "a: |x\n",
            "a: @x\n",
            "a: `x`\n",
            "a: %x\n",
        ] {
            assert!(contract(text).is_none(), "handled: {text:?}");
        }
        // Nesting beyond MAX_DEPTH.
        let mut deep = String::new();
        for level in 0..=MAX_DEPTH {
            deep.push_str(&" ".repeat(level));
            deep.push_str("a:\n");
        }
        assert!(contract(&deep).is_none());
        let mut shallow = String::new();
        for level in 0..MAX_DEPTH {
            shallow.push_str(&" ".repeat(level));
            shallow.push_str("a:\n");
        }
        handled(&shallow);
    }

    #[test]
    fn plain_scalars_resolve_as_serde_yaml_ng_resolves_them() {
        let scalars = [
            "0",
            "1",
            "-1",
            "+1",
            "-0",
            "+0",
            "00",
            "0123",
            "-0123",
            "0x1F",
            "0X1F",
            "-0x1F",
            "0o17",
            "0b101",
            "+0x1",
            "0x",
            "1_000",
            "1e3",
            "1E3",
            "1e-3",
            "1.0",
            "1.",
            ".5",
            "-.5",
            "+.5",
            "1.5e+10",
            ".inf",
            ".Inf",
            ".INF",
            "-.inf",
            "+.inf",
            ".nan",
            ".NaN",
            ".NAN",
            "inf",
            "nan",
            "NaN",
            "infinity",
            "-inf",
            "1e400",
            "-1e400",
            "2024-01-01",
            "2001-12-14t21:59:43.10-05:00",
            "12:30",
            "1:30:00",
            "1.2.3",
            "1,000",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "123456789012345678",
            "1234567890123456789",
            "~",
            "null",
            "Null",
            "NULL",
            "nULL",
            "true",
            "True",
            "TRUE",
            "tRUE",
            "false",
            "False",
            "FALSE",
            "yes",
            "Yes",
            "YES",
            "no",
            "No",
            "NO",
            "on",
            "On",
            "ON",
            "off",
            "Off",
            "OFF",
            "y",
            "Y",
            "n",
            "N",
            "=",
            "<<",
            "-",
            "-x",
            "--",
            "--x",
            "..",
            ".x",
            "+",
            "+x",
            "~x",
            "0.",
            "-.",
            "1 2",
            "1 # c",
            "a b",
            "1 2 3",
            ".5 x",
            "~ a",
            "null x",
            "true  x",
            "-1 x",
            "+1 x",
            "0x1 2",
            ".inf x",
            "x-kubernetes-int-or-string",
            "/root",
            "$var",
            "^[a-z]+$",
            "(a|b)",
            "<none>",
            "http://a:1/",
            "a:b",
            "é",
            "1é",
            "_",
            "5Gi",
            "100m",
            "1h30m",
            "v1",
            "3.14.15",
        ];
        let mut handled_count = 0;
        for s in scalars {
            for text in [
                format!("k: {s}\n"),
                format!("- {s}\n"),
                format!("{s}: v\n"),
                format!("k:\n  {s}\n"),
                format!("k: x\n  {s}\n"),
            ] {
                handled_count += usize::from(contract(&text).is_some());
            }
            // As a value, every one the slow path reads is read by the fast path.
            let text = format!("k: {s}\n");
            if slow(&text).is_ok() {
                handled(&text);
            }
        }
        assert!(handled_count > scalars.len() * 3, "{handled_count}");
    }

    #[test]
    fn block_scalars_follow_libyaml_in_every_variant() {
        let headers = [
            "|", "|-", "|+", ">", ">-", ">+", "|  # c", "|1", "|2-", ">2+", ">-1", "|4",
        ];
        let bodies = [
            "",
            "  x\n",
            "  x",
            "  x\n  y\n",
            "  x\n\n  y\n",
            "  x\n\n\n  y\n\n\n",
            "  x\n    more\n  y\n",
            "  x\n    more\n\n    more2\n  y\n",
            "    x\n    y\n",
            "\n  x\n",
            "   \n  x\n",
            "      \n  x\n",
            "  x\n      \n  y\n",
            "  x\n   \n",
            "  x\n \n",
            "  x\n  \ttab\n",
            "  \tx\n",
            "\t\n  x\n",
            "  x\n\ty\n",
            "  # x\n  y\n",
            "  x  \n  y\n",
            "  ---\n",
            "  a: b\n  - c\n",
            " one space\n",
            "  x\n \n  y\n",
        ];
        let mut total = 0;
        let mut fast = 0;
        for header in headers {
            for body in bodies {
                for (prefix, suffix) in [
                    ("a: ", "b: 1\n"),
                    ("a: ", ""),
                    ("a: ", "# after\nb: 1\n"),
                    ("- ", "- z\n"),
                    ("- k: ", "  l: 2\n"),
                    ("x:\n  a: ", "y: 1\n"),
                ] {
                    let text = format!("{prefix}{header}\n{body}{suffix}");
                    total += 1;
                    let read = contract(&text).is_some();
                    fast += usize::from(read);
                    // Whatever the slow path reads without tabs, the fast path reads too.
                    if slow(&text).is_ok() && !text.contains('\t') && !body.ends_with('x') {
                        assert!(read, "not handled: {text:?}");
                    }
                }
            }
        }
        println!("block scalar variants: {fast} of {total} read by the fast path");
    }

    #[test]
    fn quoted_scalars_fold_as_libyaml_folds_them() {
        let pieces = [
            "a", "b c", "  ", "\t", "''", "x''", "\n", "\n\n", "\n  ", "  \n", "\n\t x", " \n \n ",
            "\"", "\\", "#", ": ", "é", "---", "\n---", "\n...", "\n%x", "\n  - y", "\n  k: v",
        ];
        let mut read = 0;
        let mut total = 0;
        for quote in ['\'', '"'] {
            for a in pieces {
                for b in pieces {
                    for c in ["", "z", "\n", "  \n  w"] {
                        let body = format!("{a}{b}{c}");
                        for (prefix, suffix) in
                            [("k: ", "\nl: 1\n"), ("- ", " # c\n- 2\n"), ("k: ", "")]
                        {
                            let text = format!("{prefix}{quote}{body}{quote}{suffix}");
                            total += 1;
                            read += usize::from(contract(&text).is_some());
                        }
                    }
                }
            }
        }
        println!("quoted variants: {read} of {total} read by the fast path");
        assert!(read * 2 > total, "{read} of {total}");
    }

    /// A small deterministic generator of YAML-like text from fragments, to look for inputs
    /// where the fast path answers and the slow path disagrees or refuses.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[test]
    fn random_documents_keep_the_contract() {
        // Mostly fragments of the supported subset, so that many documents are read by the
        // fast path and compared; now and then one that is not.
        let good = [
            "a:",
            "b: x",
            "c: 1",
            "d: -1.5",
            "e: null",
            "f: ~",
            "g: yes",
            "h: 0x1F",
            "i: 'q'",
            "j: 'q''s'",
            "k: \"dq\"",
            "l: \"e\\tx\"",
            "m: []",
            "n: {}",
            "o: a # c",
            "p: |",
            "q: |-",
            "r: >",
            "s: >+",
            "t: 'multi",
            "line'",
            "u: \"multi",
            "line\"",
            "- ",
            "-",
            "- v",
            "- w: 1",
            "- |",
            "- 'y'",
            "text",
            "more text",
            "- z: |-",
            "# c",
            "",
            "   ",
            "-x: 1",
            "'k': 1",
            "\"k\": 2",
            "x: ${HOME}",
            "y: a#b",
            "z: a #b",
            "w: http://x:1",
            "v: -x",
            "u:",
            "t:   ",
            "- a: b",
            "  c: d",
            "a: |+",
            "b: >-",
            "c: 'x' # c",
            "- - ",
            "a: - ",
            "k: 0123",
            "k: .5",
            "l: [a, 'b', \"c\"]",
            "- [ 1 , 2 ]",
            "m: [x y]",
            "# - a: b",
            "- # c",
            "x",
            "- >",
        ];
        let bad = [
            "- - x",
            "a: b: c",
            "a",
            "&x a",
            "*x",
            "!t a",
            "? k",
            ": v",
            "x:\ty",
            "\tx",
            "a: [1]",
            "b: -",
            "c: --- x",
            "d: ...",
            "e: 'x' #",
            "f: \"",
            "g: '",
            "k: |2",
            "h: @x",
            "i: `x`",
            "'k' : 3",
            "a: [x, [y]]",
            "b: [x,]",
            "c: [\"x\\\"\"]",
            "d: {a: b}",
            "1: x",
            "true: y",
            "a:b: c",
            "---",
            "...",
            "%x",
            "a: x\r",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut read = 0;
        let runs = 30_000;
        for _ in 0..runs {
            let lines = 1 + rng.next() % 12;
            let mut text = String::new();
            let mut indent = 0usize;
            for _ in 0..lines {
                indent = match rng.next() % 8 {
                    0 | 1 => indent + 2,
                    2 | 3 => indent.saturating_sub(2),
                    4 => 0,
                    5 => indent + 1 + (rng.next() % 3) as usize,
                    _ => indent,
                };
                text.push_str(&" ".repeat(indent));
                text.push_str(if rng.next().is_multiple_of(25) {
                    rng.pick(&bad)
                } else {
                    rng.pick(&good)
                });
                text.push('\n');
            }
            if rng.next().is_multiple_of(4) {
                text.pop();
            }
            read += usize::from(contract(&text).is_some());
        }
        println!("random documents: {read} of {runs} read by the fast path");
        assert!(read > runs / 20, "{read}");
    }

    fn corpus() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
    }

    /// `*.yaml` and `*.yml` files under `dir`, sorted.
    fn yaml_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        files
    }

    /// Checks the contract on every document of every file; returns (documents read by the
    /// fast path, documents), with the documents the fast path left listed in `left`.
    fn check_files(files: &[PathBuf], left: &mut Vec<String>) -> (usize, usize) {
        let (mut read, mut total) = (0, 0);
        for path in files {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            for doc in split_documents(&text) {
                // Empty and comment-only documents are the caller's.
                if slow(doc.text).is_ok_and(|v| v.is_null()) {
                    continue;
                }
                total += 1;
                if contract(doc.text).is_some() {
                    read += 1;
                } else {
                    left.push(format!("{}#{}", path.display(), doc.index));
                }
            }
        }
        (read, total)
    }

    #[test]
    fn every_corpus_document_keeps_the_contract() {
        let files: Vec<PathBuf> = yaml_files(&corpus());
        assert!(files.len() > 300, "{}", files.len());
        let mut left = Vec::new();
        let (read, total) = check_files(&files, &mut left);
        println!(
            "corpus: {read} of {total} documents read by the fast path ({:.1}%)",
            100.0 * read as f64 / total as f64
        );
        // Helm templates are Go templates, not YAML: most are left to the slow path.
        let is_template = |path: &str| path.contains("/templates/");
        let (templates, _): (Vec<PathBuf>, Vec<PathBuf>) = files
            .iter()
            .cloned()
            .partition(|p| is_template(&p.display().to_string()));
        let (template_read, template_total) = check_files(&templates, &mut Vec::new());
        let (read, total) = (read - template_read, total - template_total);
        println!(
            "corpus without helm templates: {read} of {total} documents ({:.1}%)",
            100.0 * read as f64 / total as f64
        );
        left.retain(|p| !is_template(p));
        // Files as their projects released them are read whole by the fast path.
        let must = |path: &str| {
            (path.contains("/gateway-api/") && path.contains("-install.yaml"))
                || path.contains("/prometheus-operator-crd")
        };
        let missed: Vec<&String> = left.iter().filter(|p| must(p)).collect();
        assert!(missed.is_empty(), "left to the slow path: {missed:#?}");
        assert!(
            read * 100 >= total * 99,
            "{read} of {total}; left: {left:#?}"
        );
    }

    /// The upjet-aws CRDs (2,043 files a release), extracted from the corpus tarballs into
    /// `$CRDGUARD_UPJET_DIR/v2.5.0` and `v2.6.0` (`/tmp/up` by default).
    #[test]
    #[ignore = "needs the upjet-aws tarballs extracted"]
    fn upjet_documents_keep_the_contract() {
        let root = std::env::var("CRDGUARD_UPJET_DIR").unwrap_or_else(|_| "/tmp/up".into());
        for release in ["v2.5.0", "v2.6.0"] {
            let files = yaml_files(&Path::new(&root).join(release));
            assert!(files.len() > 2000, "{release}: {} files", files.len());
            let mut left = Vec::new();
            let (read, total) = check_files(&files, &mut left);
            println!("upjet-aws {release}: {read} of {total} documents read by the fast path");
            assert!(left.is_empty(), "{left:#?}");
        }
    }

    /// Single-threaded speed of both paths on the upjet-aws v2.6.0 CRDs (release build).
    #[test]
    #[ignore = "a measurement; needs the upjet-aws tarball extracted"]
    fn measure_upjet_speed() {
        let root = std::env::var("CRDGUARD_UPJET_DIR").unwrap_or_else(|_| "/tmp/up".into());
        let texts: Vec<String> = yaml_files(&Path::new(&root).join("v2.6.0"))
            .iter()
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        let mb = bytes as f64 / 1e6;
        let start = std::time::Instant::now();
        let mut read = 0;
        for text in &texts {
            for doc in split_documents(text) {
                read += usize::from(parse(doc.text).is_some());
            }
        }
        let fast = start.elapsed().as_secs_f64();
        let start = std::time::Instant::now();
        for text in &texts {
            for doc in split_documents(text) {
                assert!(slow(doc.text).is_ok());
            }
        }
        let slow = start.elapsed().as_secs_f64();
        println!(
            "{} files, {mb:.1} MB, {read} documents read by the fast path: fast {:.0} MB/s, \
             serde_yaml_ng {:.0} MB/s ({:.1}x)",
            texts.len(),
            mb / fast,
            mb / slow,
            slow / fast
        );
    }

    /// The first document of a real CRD file, cut short at many places and with lines removed
    /// or shifted: never a panic, always the contract.
    #[test]
    fn damaged_documents_keep_the_contract() {
        let path = corpus().join("gateway-api/v1.6.1/standard-install.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let doc = split_documents(&text)
            .into_iter()
            .find(|d| d.text.contains("kind: CustomResourceDefinition"))
            .unwrap()
            .text;
        let doc: String = doc.lines().take(400).flat_map(|l| [l, "\n"]).collect();
        handled(&doc);
        let mut cut = 0;
        while cut < doc.len() {
            if doc.is_char_boundary(cut) {
                contract(&doc[..cut]);
            }
            cut += 1 + cut % 7;
        }
        let lines: Vec<&str> = doc.lines().collect();
        for i in 0..lines.len() {
            let join = |replacement: Option<String>| -> String {
                let mut out = String::new();
                for (j, line) in lines.iter().enumerate() {
                    if j == i {
                        if let Some(r) = &replacement {
                            out.push_str(r);
                            out.push('\n');
                        }
                    } else {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                out
            };
            contract(&join(None));
            contract(&join(Some(format!(" {}", lines[i]))));
            contract(&join(Some(
                lines[i].strip_prefix(' ').unwrap_or(lines[i]).to_owned(),
            )));
        }
    }

    /// CRDs re-emitted by serde_yaml_ng (what `crdguard snapshot` writes) and by PyYAML's
    /// `safe_dump` (the snapshot of scripts/bench.sh; at its default width of 80 it folds long
    /// strings over several lines).
    #[test]
    fn reemitted_crds_are_read_by_the_fast_path() {
        let mut values = Vec::new();
        for file in [
            "gateway-api/v1.6.1/experimental-install.yaml",
            "large/prometheus-operator/v0.93.0/example/prometheus-operator-crd/monitoring.coreos.com_prometheuses.yaml",
        ] {
            let text = std::fs::read_to_string(corpus().join(file)).unwrap();
            for doc in split_documents(&text) {
                if let Ok(value) = slow(doc.text)
                    && value.is_object()
                {
                    values.push(value);
                }
            }
        }
        assert!(values.len() > 10);
        for value in &values {
            let text = serde_yaml_ng::to_string(value).unwrap();
            assert_eq!(&handled(&text), value);
        }
        let python = std::process::Command::new("python3")
            .args(["-c", "import yaml"])
            .status();
        if !python.is_ok_and(|s| s.success()) {
            println!("python3 with PyYAML not found: PyYAML output not tested");
            return;
        }
        for width in ["80", "1000"] {
            let script = format!(
                "import json, sys, yaml\n\
                 for v in json.load(sys.stdin):\n\
                 \x20   sys.stdout.write(yaml.safe_dump(v, sort_keys=False, width={width}))\n\
                 \x20   sys.stdout.write('---\\n')\n"
            );
            let mut child = std::process::Command::new("python3")
                .args(["-c", &script])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let input = serde_json::to_vec(&values).unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(&input).unwrap();
            });
            let output = child.wait_with_output().unwrap();
            writer.join().unwrap();
            assert!(output.status.success());
            let text = String::from_utf8(output.stdout).unwrap();
            let docs: Vec<_> = split_documents(&text)
                .into_iter()
                .filter(|d| !d.text.trim().is_empty())
                .collect();
            assert_eq!(docs.len(), values.len());
            for (doc, value) in docs.iter().zip(&values) {
                assert_eq!(&handled(doc.text), value, "width {width}");
            }
        }
    }
}
