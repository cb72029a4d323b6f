//! Regenerates the catalog's data files (`data/<bundle>.json`, one per bundle) from the corpus.
//!
//! ```text
//! cargo run -p crdguard-catalog --example generate-catalog [CORPUS_DIR] [OUTPUT_DIR]
//! ```
//! Defaults: the corpus beside the project (`../shared/corpus`) and the crate's `data/`.
//! The crate's tests fail when a committed file is not what this writes.

use std::path::PathBuf;
use std::process::ExitCode;

use crdguard_catalog::generate::{UPSTREAMS, generate_from_corpus};

fn main() -> ExitCode {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args_os().skip(1);
    let corpus = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("../../../shared/corpus"));
    let output_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("data"));
    for upstream in &UPSTREAMS {
        let text = match generate_from_corpus(&corpus, upstream) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("generate-catalog: {}: {e}", upstream.bundle);
                return ExitCode::from(2);
            }
        };
        let output = output_dir.join(format!("{}.json", upstream.bundle));
        if let Err(e) = std::fs::write(&output, &text) {
            eprintln!("generate-catalog: {}: {e}", output.display());
            return ExitCode::from(2);
        }
        eprintln!("wrote {} ({} bytes)", output.display(), text.len());
    }
    ExitCode::SUCCESS
}
