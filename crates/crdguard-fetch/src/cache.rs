//! The local cache of downloaded release files: `<root>/<bundle>/<tag>/<channel>-install.yaml`, where
//! `<root>` is `$XDG_CACHE_HOME/crdguard/catalog` (else `~/.cache/crdguard/catalog`).
//!
//! Files are stored exactly as downloaded and only after verification. The cache is never
//! trusted: every hit is verified again by the caller, so a truncated or edited file is caught
//! and discarded. Writes go to a temporary file in the same directory and are renamed into
//! place, so a reader never sees half a file, and two concurrent writers leave one whole file.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crdguard_catalog::Release;

/// The cache root: the override if given, else the XDG location.
pub(crate) fn root(override_dir: Option<&Path>) -> Option<PathBuf> {
    match override_dir {
        Some(dir) => Some(dir.to_path_buf()),
        None => root_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")),
    }
}

/// XDG base directory rules: `$XDG_CACHE_HOME` counts only when absolute.
fn root_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |value: Option<OsString>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_cache_home)
        .map(|dir| dir.join("crdguard").join("catalog"))
        .or_else(|| absolute(home).map(|home| home.join(".cache/crdguard/catalog")))
}

/// Where `release` is cached under `root`: `<bundle>/<tag>/<channel>-install.yaml`. `None` for a tag that is not a plain file name:
/// tags come from the built-in catalog, but a path is built from them, so check anyway.
pub(crate) fn file(root: &Path, release: &Release) -> Option<PathBuf> {
    let tag = release.tag.as_str();
    let plain = !tag.is_empty()
        && tag != "."
        && tag != ".."
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    // One directory per bundle, so that equal tags of two bundles never meet.
    let dir = root.join(&release.bundle).join(tag);
    plain.then(|| dir.join(format!("{}-install.yaml", release.channel)))
}

/// What the cache holds for one file.
#[derive(Debug)]
pub(crate) enum Lookup {
    Miss,
    Hit(String),
    /// Present but unusable as text (too large, not UTF-8, unreadable): treat as corrupt.
    Unusable(String),
}

pub(crate) fn read(path: &Path, max_bytes: u64) -> Lookup {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
        Err(e) => return Lookup::Unusable(e.to_string()),
    };
    // Read one byte past the cap to tell "at the cap" from "over it" without trusting metadata.
    let mut bytes = Vec::new();
    if let Err(e) = file
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return Lookup::Unusable(e.to_string());
    }
    if bytes.len() as u64 > max_bytes {
        return Lookup::Unusable(format!("larger than the limit of {max_bytes} bytes"));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Lookup::Hit(text),
        Err(_) => Lookup::Unusable("not UTF-8".to_string()),
    }
}

/// Writes `text` to `path` atomically (temporary file in the same directory, then rename).
pub(crate) fn write(path: &Path, text: &str) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("cache file has no parent directory"))?;
    fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(text.as_bytes())?;
    // On disk before the rename, so a crash cannot leave a complete name over partial content.
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes a cached file; already gone is fine.
pub(crate) fn discard(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crdguard_catalog::Catalog;
    use crdguard_core::Channel;

    #[test]
    fn xdg_then_home() {
        assert_eq!(
            root_from(Some("/xdg".into()), Some("/home/u".into())),
            Some(PathBuf::from("/xdg/crdguard/catalog"))
        );
        assert_eq!(
            root_from(Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/crdguard/catalog"))
        );
        assert_eq!(
            root_from(None, Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/crdguard/catalog"))
        );
        assert_eq!(root_from(None, None), None);
    }

    #[test]
    fn layout_is_bundle_then_tag_then_channel_file() {
        let catalog = Catalog::builtin().unwrap().bundle("gateway-api").unwrap();
        let release = catalog
            .release("monthly-2026.06", Channel::Experimental)
            .unwrap();
        assert_eq!(
            file(Path::new("/c"), release),
            Some(PathBuf::from(
                "/c/gateway-api/monthly-2026.06/experimental-install.yaml"
            ))
        );
        let mut odd = release.clone();
        odd.tag = "../etc".into();
        assert_eq!(file(Path::new("/c"), &odd), None);
    }

    #[test]
    fn write_is_atomic_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1/standard-install.yaml");
        assert!(matches!(read(&path, 100), Lookup::Miss));
        write(&path, "first").unwrap();
        write(&path, "second").unwrap();
        assert!(matches!(read(&path, 100), Lookup::Hit(t) if t == "second"));
        assert!(matches!(read(&path, 3), Lookup::Unusable(_)));
        // Only the file itself is left behind, no temporary files.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        discard(&path).unwrap();
        discard(&path).unwrap();
        assert!(matches!(read(&path, 100), Lookup::Miss));
    }
}
