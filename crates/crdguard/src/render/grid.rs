//! A column grid that renders as aligned text (fitted to a terminal's width when there is one)
//! or as a GitHub-flavoured Markdown table.
//!
//! Hand-made rather than comfy-table or tabled: piped output must stay one row per line with
//! columns separated by two spaces (greppable, and byte-stable for golden tests), cells carry
//! ANSI colour that must not count towards widths, and Markdown cells need code spans; the
//! crates' wrapping would have to be switched off for the first and worked around for the
//! other two, leaving little of what they offer.

use super::markdown::{code_span, escape_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Table,
    Markdown,
}

/// A cell: words, or a name or path (a code span in Markdown), optionally coloured on a
/// terminal.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    code: bool,
    paint: Option<anstyle::Style>,
}

impl Cell {
    pub fn code(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            code: true,
            paint: None,
        }
    }

    pub fn painted(mut self, style: anstyle::Style) -> Self {
        self.paint = Some(style);
        self
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text,
            code: false,
            paint: None,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::from(text.to_string())
    }
}

pub struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// The narrowest a wrapped last column gets before the other columns are cut instead.
const MIN_LAST_COLUMN: usize = 24;

impl Grid {
    pub fn new(header: &[&str]) -> Self {
        Grid {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<C: Into<Cell>>(&mut self, cells: Vec<C>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Text (one row per line, or fitted to `width` columns when given) or Markdown.
    pub fn render(&self, style: Style, indent: &str, width: Option<usize>) -> String {
        match style {
            Style::Table => self.text(indent, width),
            Style::Markdown => {
                let mut out = self.markdown_header();
                for row in &self.rows {
                    out.push_str(&markdown_row(row));
                }
                out
            }
        }
    }

    /// The Markdown header and separator lines.
    pub fn markdown_header(&self) -> String {
        format!(
            "| {} |\n|{}|\n",
            self.header.join(" | "),
            self.header
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        )
    }

    /// Each row as one Markdown line, for callers that stop at a size limit.
    pub fn markdown_rows(&self) -> impl Iterator<Item = String> + '_ {
        self.rows.iter().map(|row| markdown_row(row))
    }

    fn text(&self, indent: &str, width: Option<usize>) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.text.chars().count());
            }
        }
        // Fitting: the last column (reasons, messages) wraps onto continuation lines under
        // itself. When the other columns leave it too little room, each row becomes one
        // wrapped line instead: nothing is cut, names and paths stay whole.
        let mut last_width = None;
        if let Some(total) = width {
            let fixed =
                indent.chars().count() + widths[..columns - 1].iter().map(|w| w + 2).sum::<usize>();
            if fixed + MIN_LAST_COLUMN > total {
                return self.stacked(indent, total);
            }
            last_width = Some(total - fixed);
        }
        let header: Vec<Cell> = self.header.iter().map(|h| Cell::from(h.as_str())).collect();
        let mut out = text_row(&header, &widths, indent, last_width);
        for row in &self.rows {
            out.push_str(&text_row(row, &widths, indent, last_width));
        }
        out
    }
}

impl Grid {
    /// Rows as wrapped lines of two-space-separated cells, for terminals too narrow for
    /// columns.
    fn stacked(&self, indent: &str, width: usize) -> String {
        let mut out = String::new();
        let header = format!("{indent}{}", self.header.join("  "));
        out.push_str(&fit_lines(&header, width));
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|c| match c.paint {
                    Some(style) => paint(&c.text, style),
                    None => c.text.clone(),
                })
                .collect();
            out.push_str(&fit_lines(&format!("{indent}{}", cells.join("  ")), width));
        }
        out
    }
}

fn text_row(cells: &[Cell], widths: &[usize], indent: &str, last_width: Option<usize>) -> String {
    let columns = widths.len();
    let mut line = String::from(indent);
    let mut last = String::new();
    let mut last_paint = None;
    for (i, cell) in cells.iter().enumerate().take(columns) {
        let text = cell.text.clone();
        if i + 1 == columns {
            last = text;
            last_paint = cell.paint;
        } else {
            let pad = widths[i].saturating_sub(text.chars().count());
            match cell.paint {
                Some(style) => line.push_str(&paint(&text, style)),
                None => line.push_str(&text),
            }
            line.push_str(&" ".repeat(pad + 2));
        }
    }
    // Measured on widths, not on `line`, whose colour escapes take no room on screen.
    let lead = indent.chars().count() + widths[..columns - 1].iter().map(|w| w + 2).sum::<usize>();
    let pieces = match last_width {
        Some(width) => wrap(&last, width),
        None => vec![last],
    };
    let mut out = String::new();
    for (n, piece) in pieces.iter().enumerate() {
        if n == 0 {
            out.push_str(&line);
        } else {
            out.push_str(&" ".repeat(lead));
        }
        match last_paint {
            Some(style) if !piece.is_empty() => out.push_str(&paint(piece, style)),
            _ => out.push_str(piece),
        }
        let kept = out.trim_end().len();
        out.truncate(kept);
        out.push('\n');
    }
    out
}

/// Every line of `text` wider than `width` wrapped at spaces, continued under its first word
/// (widths measured without colour escapes). Grid rows already fit; this is for the lines
/// between them.
pub fn fit_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let visible = anstream::adapter::strip_str(line).to_string();
        if visible.chars().count() <= width {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let lead = line.len() - line.trim_start().len();
        let continuation = " ".repeat((lead + 2).min(width / 2));
        let mut used = 0;
        let room = width.saturating_sub(continuation.len()).max(1);
        let mut first = true;
        for word in line.trim_start().split(' ') {
            // A word longer than a line (a regular expression, a CEL rule) is split; one with
            // colour escapes never is (it is a short painted word).
            let pieces: Vec<String> = if word.contains('\u{1b}') || word.chars().count() <= room {
                vec![word.to_string()]
            } else {
                let chars: Vec<char> = word.chars().collect();
                chars.chunks(room).map(|c| c.iter().collect()).collect()
            };
            for piece in pieces {
                let piece_width = anstream::adapter::strip_str(&piece)
                    .to_string()
                    .chars()
                    .count();
                if first {
                    out.push_str(&line[..lead]);
                    used = lead;
                    first = false;
                } else if used + 1 + piece_width > width {
                    let kept = out.trim_end_matches(' ').len();
                    out.truncate(kept);
                    out.push('\n');
                    out.push_str(&continuation);
                    used = continuation.len();
                } else {
                    out.push(' ');
                    used += 1;
                }
                out.push_str(&piece);
                used += piece_width;
            }
        }
        out.push('\n');
    }
    out
}

fn paint(text: &str, style: anstyle::Style) -> String {
    format!("{style}{text}{style:#}")
}

/// Words of `text` on lines of at most `width` characters (a longer word is split).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let used = line.chars().count();
            let needed = word.chars().count() + usize::from(used > 0);
            if used + needed <= width {
                if used > 0 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than the line: split it.
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn markdown_row(row: &[Cell]) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|c| {
            if c.code && !c.text.is_empty() {
                code_span(&c.text)
            } else {
                escape_text(&c.text)
            }
        })
        .collect();
    format!("| {} |\n", cells.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let mut g = Grid::new(&["CRD", "ACTION", "REASON"]);
        g.row(vec![
            Cell::code("httproutes.gateway.networking.k8s.io"),
            Cell::from("blocked"),
            Cell::from(
                "desired CRD drops v1alpha2, which status.storedVersions still lists; objects must be migrated first",
            ),
        ]);
        g
    }

    #[test]
    fn piped_text_is_one_row_per_line() {
        let text = grid().render(Style::Table, "  ", None);
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .nth(1)
                .unwrap_or("")
                .ends_with("migrated first")
        );
    }

    #[test]
    fn a_terminal_width_wraps_the_last_column_under_itself() {
        let text = grid().render(Style::Table, "  ", Some(80));
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line:?} is wider than 80");
        }
        assert!(text.lines().count() > 2, "{text}");
        let lead = text
            .lines()
            .nth(1)
            .unwrap_or("")
            .find("desired")
            .unwrap_or(0);
        let continuation = text.lines().nth(2).unwrap_or("");
        assert_eq!(continuation.len() - continuation.trim_start().len(), lead);
        // Nothing is lost in the wrapping.
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(words.contains(&"status.storedVersions"), "{text}");
    }

    #[test]
    fn a_narrow_terminal_gets_whole_rows_wrapped_and_nothing_cut() {
        let text = grid().render(Style::Table, "  ", Some(50));
        assert!(text.lines().all(|l| l.chars().count() <= 50), "{text}");
        let words: Vec<&str> = text.split_whitespace().collect();
        assert!(
            words.contains(&"httproutes.gateway.networking.k8s.io"),
            "{text}"
        );
        assert!(words.contains(&"first"), "{text}");
    }

    #[test]
    fn long_free_lines_wrap_under_their_first_word() {
        let line = format!("  Next: {}\n", "word ".repeat(40));
        let fitted = fit_lines(&line, 40);
        assert!(fitted.lines().count() > 1);
        assert!(fitted.lines().all(|l| l.chars().count() <= 40), "{fitted}");
        assert!(
            fitted.lines().skip(1).all(|l| l.starts_with("    word")),
            "{fitted}"
        );
        assert_eq!(
            fitted.split_whitespace().count(),
            line.split_whitespace().count()
        );
    }

    #[test]
    fn markdown_cells_escape_pipes_and_emphasis() {
        let mut g = Grid::new(&["PATH", "MESSAGE"]);
        g.row(vec![
            Cell::code(".spec.rules[*].matches"),
            Cell::from("a|b *not* _emphasis_ <b>"),
        ]);
        let text = g.render(Style::Markdown, "", None);
        assert!(text.contains("`.spec.rules[*].matches`"), "{text}");
        assert!(text.contains(r"a\|b \*not\* \_emphasis\_ \<b\>"), "{text}");
    }
}
