//! Bounded reads of files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use crdguard_core::InputError;

use crate::SourceError;

#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Largest file (or stdin stream, or archive member) read, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of all members of one chart archive, uncompressed.
    pub max_archive_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_file_bytes: 512 * 1024 * 1024,
            max_archive_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Reads a whole file as UTF-8 text, refusing files over the limit before reading them.
pub fn file(path: &Path, limits: ReadLimits) -> Result<String, SourceError> {
    let meta = std::fs::metadata(path).map_err(|e| SourceError::io(path, e))?;
    if meta.is_dir() {
        return Err(SourceError::Io {
            path: path.display().to_string(),
            message: "is a directory, expected a file".to_string(),
        });
    }
    if meta.len() > limits.max_file_bytes {
        return Err(too_large(&path.display().to_string(), meta.len(), limits));
    }
    // Bounded read too: devices and pipes (`/dev/zero`, `<(…)`) report no size.
    // Sized from the metadata: growing by doubling would copy a 100 MB snapshot ~27 times over
    // and touch twice its memory.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).map_or(0, |n| n + 1));
    std::fs::File::open(path)
        .and_then(|file| file.take(limits.max_file_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| SourceError::io(path, e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large(
            &path.display().to_string(),
            bytes.len() as u64,
            limits,
        ));
    }
    utf8(&path.display().to_string(), bytes)
}

pub fn stdin(limits: ReadLimits) -> Result<String, SourceError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SourceError::io(Path::new("<stdin>"), e))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(too_large("<stdin>", bytes.len() as u64, limits));
    }
    utf8("<stdin>", bytes)
}

fn too_large(name: &str, bytes: u64, limits: ReadLimits) -> SourceError {
    SourceError::Input(InputError::new(
        name,
        format!(
            "{bytes} bytes is more than the input limit of {} bytes (raise it with CRDGUARD_MAX_INPUT_BYTES)",
            limits.max_file_bytes
        ),
    ))
}

pub fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, SourceError> {
    // PowerShell 5 writes `>` redirections as UTF-16; say so rather than "invalid byte at 0".
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SourceError::Input(InputError::new(
            name,
            "not UTF-8 text but UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8",
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        SourceError::Input(InputError::new(
            name,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ))
    })
}

pub fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Every `*.yaml|*.yml|*.json` below `dir`, sorted, not following symlinked directories.
pub fn yaml_files_under(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| SourceError::io(&current, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| SourceError::io(&current, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| SourceError::io(&path, e))?;
            if file_type.is_dir() {
                pending.push(path);
            } else if is_manifest(&path) && (file_type.is_file() || path.is_file()) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
