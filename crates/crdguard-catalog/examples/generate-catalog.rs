//! Regenerates `data/gateway-api.json` from the corpus.
//!
//! ```text
//! cargo run -p crdguard-catalog --example generate-catalog [CORPUS_DIR] [OUTPUT]
//! ```
//! Defaults: the corpus beside the project (`../shared/corpus`) and the crate's data file.
//! The crate's tests fail when the committed file is not what this writes.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let corpus = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("../../../shared/corpus"));
    let output = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("data/gateway-api.json"));
    let text = match crdguard_catalog::generate::generate_from_corpus(&corpus) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("generate-catalog: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::write(&output, &text) {
        eprintln!("generate-catalog: {}: {e}", output.display());
        return ExitCode::from(2);
    }
    eprintln!("wrote {} ({} bytes)", output.display(), text.len());
    ExitCode::SUCCESS
}
