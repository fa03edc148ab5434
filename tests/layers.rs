//! The layering rule of docs/architecture.md, checked: no module of `src/` imports from a layer
//! above its own. Test code (files named `tests*.rs`, and everything after a file's first
//! `#[cfg(test)]`) may reach up, as tests drive a layer through the ones above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top; modules on one rank may use each other.
const LAYERS: &[(&str, u8)] = &[
    ("wire", 0),
    ("ownership", 0),
    ("logging", 0),
    ("api", 1),
    ("net", 2),
    ("ipvs", 3),
    ("pipeline", 4),
    ("capture", 4),
    ("afxdp", 5),
    ("ipvsadm", 5),
    ("control", 6),
    ("health", 7),
    ("kernel", 7),
    ("config", 8),
    ("import", 8),
    ("admin", 8),
    ("console", 8),
    ("metrics", 8),
    ("testkit", 9),
    ("daemon", 9),
];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, r)| r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The product code of a file: up to its first `#[cfg(test)]`, comments left out.
fn product_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .filter(|l| !l.trim_start().starts_with("//"))
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        let name = f.file_name().unwrap().to_string_lossy();
        if module == "bin" || module == "lib" || name.starts_with("tests") {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| panic!("src/{rel}: module `{module}` has no layer in LAYERS"));
        checked += 1;
        let text = std::fs::read_to_string(f).unwrap();
        for line in product_lines(&text) {
            for (i, _) in line.match_indices("crate::") {
                let used: String =
                    line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used.is_empty() && line[i + 7..].starts_with('{') {
                    violations.entry(format!("src/{rel}")).or_default().push(format!(
                        "`crate::{{...}}` hides which layers it uses; one path per `use`: {}",
                        line.trim()
                    ));
                    continue;
                }
                let Some(r) = rank(&used) else { continue };
                if r > own {
                    violations
                        .entry(format!("src/{rel} ({module}, layer {own})"))
                        .or_default()
                        .push(format!("uses {used} (layer {r}): {}", line.trim()));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} files checked: is src/ where it was?");
    assert!(violations.is_empty(), "upward imports:\n{violations:#?}");
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';')).collect();
    assert!(modules.len() > 10, "{modules:?}");
    for m in modules {
        assert!(rank(m).is_some(), "src/lib.rs declares `{m}`, which LAYERS does not place");
    }
}

/// The README's Layout block, the map a newcomer reads first.
fn readme_layout() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Layout").expect("README.md has a Layout section");
    let block = &readme[start..];
    let open = block.find("```\n").expect("the Layout section has a code block") + 4;
    let close = block[open..].find("```").expect("the Layout code block is closed") + open;
    block[open..close].to_string()
}

#[test]
fn the_readme_layout_names_every_directory_and_top_level_file_of_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = readme_layout();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("src")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let shown = if p.is_dir() { format!("src/{name}/") } else { format!("src/{name}") };
        if name == "lib.rs" {
            continue;
        }
        // src/control.rs with its sections in src/control/: the file's line covers both.
        let covered = layout.contains(&shown)
            || (p.is_dir() && layout.contains(&format!("src/{name}.rs")) && layout.contains(&format!("{name}/")));
        if !covered {
            missing.push(shown);
        }
    }
    for dir in ["benches", "examples", "fuzz", "scripts", "bpf", "docs", "tests/e2e"] {
        if root.join(dir).exists() && !layout.contains(&format!("{dir}/")) {
            missing.push(format!("{dir}/"));
        }
    }
    for e in std::fs::read_dir(root.join("examples")).unwrap() {
        let stem = e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned();
        if !layout.contains(&stem) {
            missing.push(format!("examples/{stem}"));
        }
    }
    assert!(missing.is_empty(), "README.md's Layout does not mention: {missing:?}");
}
