//! Colours for people. Only text output carries them; anstream strips them when stdout is not
//! a terminal, under `NO_COLOR`, or with `--color never`.

use anstyle::{AnsiColor, Style};

use crdguard_core::plan::{Action, CheckStatus};
use crdguard_schema::Severity;

pub fn heading() -> Style {
    Style::new().bold()
}

pub fn action(action: Action) -> Style {
    match action {
        Action::Create => AnsiColor::Green.on_default(),
        Action::Upgrade => AnsiColor::Cyan.on_default(),
        Action::Unchanged | Action::Keep => Style::new().dimmed(),
        Action::Conflict | Action::Blocked => AnsiColor::Red.on_default().bold(),
    }
}

pub fn severity(severity: Severity) -> Style {
    match severity {
        Severity::Error => AnsiColor::Red.on_default().bold(),
        Severity::Warning => AnsiColor::Yellow.on_default(),
        Severity::Info => Style::new().dimmed(),
    }
}

pub fn check(status: CheckStatus) -> Style {
    match status {
        CheckStatus::Pass => AnsiColor::Green.on_default(),
        CheckStatus::Warn => AnsiColor::Yellow.on_default(),
        CheckStatus::Fail => AnsiColor::Red.on_default().bold(),
    }
}

pub fn verdict(blocked: bool) -> Style {
    if blocked {
        AnsiColor::Red.on_default().bold()
    } else {
        AnsiColor::Green.on_default().bold()
    }
}

/// `text` in `style` (escapes that anstream keeps or strips).
pub fn paint(text: &str, style: Style) -> String {
    format!("{style}{text}{style:#}")
}
