//! The READMEs' code is code that runs: every ```rust block that follows an
//! `<!-- example: PATH -->` line must be the part of PATH (an example CI
//! runs) between its `// README start` and `// README end` lines.

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The marked part of an example file.
fn marked(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text
        .find("// README start\n")
        .unwrap_or_else(|| panic!("{}: no `// README start`", path.display()));
    let body = &text[start + "// README start\n".len()..];
    let end = body
        .find("// README end")
        .unwrap_or_else(|| panic!("{}: no `// README end`", path.display()));
    body[..end].trim().to_owned()
}

/// (example path, block) for every marked block of a README.
fn blocks(readme: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(readme).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- example: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```rust"),
            "{}: the line after the marker for {path} opens no rust block",
            readme.display()
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        out.push((path.to_owned(), block.join("\n").trim().to_owned()));
    }
    out
}

fn check(readme: &Path, base: &Path, want: &[&str]) {
    let found = blocks(readme);
    for w in want {
        assert!(
            found.iter().any(|(p, _)| p == w),
            "{} shows no block marked `<!-- example: {w} -->`",
            readme.display()
        );
    }
    for (path, block) in found {
        assert_eq!(
            block,
            marked(&base.join(&path)),
            "{}: the block marked {path} differs from the example",
            readme.display()
        );
    }
}

#[test]
fn the_crate_readme_shows_the_examples_ci_runs() {
    let dir = crate_dir();
    check(
        &dir.join("README.md"),
        &dir,
        &["examples/std_net.rs", "examples/tokio_echo.rs"],
    );
}

#[test]
fn the_project_readme_shows_the_examples_ci_runs() {
    let dir = crate_dir();
    let root = dir.parent().unwrap();
    check(
        &root.join("README.md"),
        root,
        &[
            "app-client/examples/std_net.rs",
            "app-client/examples/tokio_echo.rs",
        ],
    );
}
