//! Embeds events/ (the functions' sample events) in the crate: the PreTraffic hook sends a
//! new version of each function its own sample event, made harmless (`smoke`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path
                .strip_prefix(root)
                .expect("under events/")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let events = manifest.join("../events");
    println!("cargo:rerun-if-changed={}", events.display());
    let mut found = Vec::new();
    collect(&events, &events, &mut found);
    found.sort();
    let mut code = String::from(
        "/// events/, by path under it.\npub const SAMPLE_EVENTS: &[(&str, &str)] = &[\n",
    );
    for (relative, path) in &found {
        let _ = writeln!(
            code,
            "    ({relative:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("sample_events.rs");
    std::fs::write(out, code).expect("sample_events.rs written");
}
