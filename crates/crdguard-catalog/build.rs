//! Embeds every bundle's data file (`data/<bundle>.json`): adding a bundle's catalog data is
//! adding its file, with no list to keep in step.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let data = manifest.join("data");
    println!("cargo:rerun-if-changed={}", data.display());
    let mut files: Vec<String> = std::fs::read_dir(&data)
        .expect("the crate's data directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    // The Gateway API first, as `catalog list` has always shown it; the rest by name.
    files.sort_by_key(|name| (name != "gateway-api.json", name.clone()));
    let mut out = String::from("&[\n");
    for name in &files {
        let path = data.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({:?}, include_str!({:?})),",
            format!("data/{name}"),
            path.display().to_string()
        );
    }
    out.push(']');
    let target = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"))
        .join("builtin_bundle_files.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
