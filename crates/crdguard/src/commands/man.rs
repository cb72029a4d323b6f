//! `crdguard man`: the roff man page crdguard(1), from the clap definitions; with `--dir`, one
//! page per command as well (crdguard-plan.1, crdguard-guard-render.1, ...).
//!
//! clap_mangen renders every section but the after-help, which it prints as one filled
//! paragraph under EXTRA; here its notes become NOTES and its "Examples:" an EXAMPLES section
//! whose lines stay as written, so they can be copied.

use std::path::Path;

use clap::CommandFactory;
use roff::{Roff, roman};

use crate::cli::{Cli, ManArgs};
use crdguard_app::{CommandError, Exit};

pub fn run(args: &ManArgs) -> Result<Exit, CommandError> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match &args.dir {
        None => super::completions::print(&page(&command))?,
        Some(dir) => {
            let fail = |e: std::io::Error| {
                CommandError::usage(format!("cannot write man pages in {}: {e}", dir.display()))
            };
            std::fs::create_dir_all(dir).map_err(fail)?;
            let pages = write_pages(&command, dir).map_err(fail)?;
            eprintln!("{pages} man pages in {}", dir.display());
        }
    }
    Ok(Exit::Ok)
}

/// Writes the page of `command` and of every visible subcommand, recursively; returns how many.
fn write_pages(command: &clap::Command, dir: &Path) -> std::io::Result<usize> {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name());
    std::fs::write(dir.join(format!("{name}.1")), page(command))?;
    let mut pages = 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages += write_pages(sub, dir)?;
    }
    Ok(pages)
}

/// One man page (section 1) of a built command.
fn page(command: &clap::Command) -> Vec<u8> {
    let man = clap_mangen::Man::new(command.clone())
        .source(concat!("crdguard ", env!("CARGO_PKG_VERSION")));
    let mut sections: Vec<Vec<u8>> = Vec::new();
    let mut section = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut out = Vec::new();
        // Writing to a Vec does not fail.
        let _ = render(&mut out);
        sections.push(out);
    };
    section(&|w| man.render_title(w));
    section(&|w| man.render_name_section(w));
    section(&|w| man.render_synopsis_section(w));
    section(&|w| man.render_description_section(w));
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        section(&|w| man.render_options_section(w));
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        section(&|w| man.render_subcommands_section(w));
    }
    let after_help = command
        .get_after_long_help()
        .or_else(|| command.get_after_help())
        .map(|text| text.to_string())
        .unwrap_or_default();
    section(&|w| after_help_sections(&after_help).to_writer(w));
    if command.get_version().is_some() {
        section(&|w| man.render_version_section(w));
    }
    // Every section starts with the same preamble (a string register for the apostrophe); the
    // page needs it once.
    let preamble_len = sections[0]
        .windows(3)
        .position(|w| w == b".TH")
        .unwrap_or(0);
    let preamble = sections[0][..preamble_len].to_vec();
    let mut page = sections[0].clone();
    for section in &sections[1..] {
        page.extend_from_slice(section.strip_prefix(preamble.as_slice()).unwrap_or(section));
    }
    page
}

/// The after-help as NOTES (its paragraphs) and EXAMPLES (the lines after "Examples:", one
/// command a line, not filled).
fn after_help_sections(text: &str) -> Roff {
    let (notes, examples) = match text.split_once("Examples:\n") {
        Some((notes, examples)) => (notes, examples),
        None => (text, ""),
    };
    let mut roff = Roff::new();
    let paragraphs: Vec<&str> = notes
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if !paragraphs.is_empty() {
        roff.control("SH", ["NOTES"]);
        for (i, paragraph) in paragraphs.iter().enumerate() {
            if i > 0 {
                roff.control("PP", []);
            }
            roff.text([roman(paragraph.replace('\n', " "))]);
        }
    }
    // One command a line, as in the help, with the indentation of continued lines.
    let lines: Vec<&str> = examples
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l).trim_end())
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        roff.control("nf", []);
        for line in lines {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }
    roff
}
