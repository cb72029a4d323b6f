//! `crdguard completions SHELL`: the shell completion script, from the clap definitions.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crdguard_app::{CommandError, Exit};

pub fn run(args: &CompletionsArgs) -> Result<Exit, CommandError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "crdguard", &mut script);
    print(&script)?;
    Ok(Exit::Ok)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(super) fn print(bytes: &[u8]) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CommandError::usage(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
