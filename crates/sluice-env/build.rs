//! Embeds the curated-environment catalog (`curated/*.yml`) in the library: one
//! `(file name, text)` entry per file, so the binary needs nothing beside it at run time.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // The folder of the crate being built, read when the script runs: a script binary that
    // cargo reuses from a build of the same sources at another path (a git worktree sharing
    // the target folder) must not read that path's files, or none at all.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("curated");
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the curated catalog {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("cannot read the curated catalog {}: {e}", dir.display()))
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| {
            Path::new(n)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yml"))
        })
        .collect();
    assert!(
        names.iter().any(|n| n == "catalog.yml"),
        "{} holds no catalog.yml",
        dir.display()
    );
    names.sort();
    let mut out = String::from("pub(crate) static FILES: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = dir.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out_dir).join("curated_files.rs"), out).expect("OUT_DIR is writable");
}
