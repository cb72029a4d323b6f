use std::path::Path;

use crdguard_core::InputError;
use crdguard_core::error::shorten;

/// Why a source could not be read. Every variant is bad input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("{}: {}", shorten(.path), shorten(.message))]
    Io { path: String, message: String },
}

impl SourceError {
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        let message = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => error.to_string(),
        };
        SourceError::Io {
            path: path.display().to_string(),
            message,
        }
    }
}
