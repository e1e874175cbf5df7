//! Embeds the sources of the compiled managed runtimes (runtimes/java, runtimes/dotnet) so that
//! `kumo serve` can build them on the machine it runs on, with that machine's JDK and Mono.

use std::path::{Path, PathBuf};

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "out" {
                collect(root, &path, out);
            }
        } else if name.ends_with(".java") || name.ends_with(".cs") || name == "build.sh" {
            out.push(path.strip_prefix(root).expect("under root").to_owned());
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let runtimes = manifest
        .join("../../runtimes")
        .canonicalize()
        .expect("runtimes/ exists");
    let mut code = String::new();
    for (name, sub) in [("JAVA", "java"), ("DOTNET", "dotnet")] {
        let root = runtimes.join(sub);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        collect(&root, &root, &mut files);
        code.push_str(&format!("pub static {name}: &[(&str, &[u8])] = &[\n"));
        for rel in files {
            let abs = root.join(&rel);
            code.push_str(&format!(
                "    ({:?}, include_bytes!({:?})),\n",
                rel.to_str().expect("utf-8 path"),
                abs.to_str().expect("utf-8 path")
            ));
        }
        code.push_str("];\n");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    std::fs::write(out.join("runtime_sources.rs"), code).expect("writing runtime_sources.rs");
}
