//! The crate's layering: a top-level module imports only from modules of a lower layer (the
//! table in `src/lib.rs`), so there is no import cycle and each part can be read, tested and
//! changed without the ones above it. Reads the `crate::` paths of every source file, tests
//! inside `src/` included.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer, as `src/lib.rs` documents them.
const LAYERS: &[(&str, u8)] = &[
    ("cli", 8),
    ("commands", 7),
    ("session", 6),
    ("report", 5),
    ("diagnose", 4),
    ("probe", 4),
    ("resolve", 3),
    ("tls", 3),
    ("login", 3),
    ("evidence", 3),
    ("facts", 2),
    ("config", 1),
    ("pgwire", 1),
    ("vocabulary", 0),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/tls/verify.rs` → `tls`), or None for the crate
/// roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// Every top-level module named after `crate::` in `text`, comments left out; `use crate::{a,
/// b::c}` groups count too.
fn imports(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

#[test]
fn modules_import_only_from_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let own = *layer
            .get(module.as_str())
            .unwrap_or_else(|| panic!("{module} is not in LAYERS (and src/lib.rs's table)"));
        let text = std::fs::read_to_string(file).expect("read source");
        for target in imports(&text) {
            if target == module || target.is_empty() {
                continue;
            }
            // Macros exported at the crate root (none today) or other non-module paths.
            let Some(&theirs) = layer.get(target.as_str()) else {
                continue;
            };
            if theirs >= own {
                wrong.push(format!(
                    "{} (layer {own}) imports crate::{target} (layer {theirs})",
                    file.strip_prefix(&src).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point down:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_table_names_every_module_and_lib_rs_documents_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    for (module, layer) in LAYERS {
        let declared =
            lib.contains(&format!("pub mod {module};")) || lib.contains(&format!("mod {module};"));
        assert!(declared, "{module} is not declared in lib.rs");
        let row = lib.lines().find(|l| {
            l.starts_with(&format!("//! | {layer} |")) && l.contains(&format!("`{module}`"))
        });
        assert!(
            row.is_some(),
            "lib.rs's table does not put `{module}` in layer {layer}"
        );
    }
    let declared = lib
        .lines()
        .filter(|l| l.contains("mod ") && l.ends_with(';'))
        .count();
    assert_eq!(
        declared,
        LAYERS.len(),
        "lib.rs declares a module LAYERS does not list"
    );
}

#[test]
fn the_import_reader_sees_groups_and_skips_comments() {
    let text = "use crate::{facts::Report, config};\n// crate::cli\nlet x = crate::tls::cert::f();";
    assert_eq!(imports(text), ["facts", "config", "tls"]);
}
