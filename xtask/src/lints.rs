//! Which crates may allow `unsafe_code`: the half of the rule the compiler
//! cannot check.
//!
//! `[workspace.lints.rust] unsafe_code = "forbid"` makes rustc reject
//! `unsafe_code` in every crate that inherits the workspace's lints (tests,
//! benches and examples included, and `#[allow]` cannot lift a forbid). What
//! is left to check is the manifests: the workspace forbids it, every member
//! inherits (`[lints] workspace = true`), and the crates allowed `unsafe_code`,
//! which cannot inherit (cargo cannot override one inherited lint), repeat
//! the workspace's tables without that one line.

use std::path::Path;

use toml::{Table, Value};

use crate::workspace::Workspace;

/// The crates that may allow `unsafe_code`: the segment storage seam and
/// in-place headers. Each has its own `[lints]` tables.
pub const UNSAFE_CRATES: &[&str] = &["ct-fifo-segment"];

/// Lint-table problems of the workspace's manifests, one message each.
pub fn check(ws: &Workspace) -> Vec<String> {
    let root = match read_manifest(&ws.root.join("Cargo.toml")) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    let mut members = Vec::new();
    for p in &ws.packages {
        match read_manifest(p.manifest_path.as_std_path()) {
            Ok(t) => members.push((p.name.to_string(), t)),
            Err(e) => errors.push(e),
        }
    }
    errors.extend(check_manifests(&root, &members));
    errors
}

fn read_manifest(path: &Path) -> Result<Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse::<Table>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The checks on parsed manifests: `root` is the workspace's Cargo.toml,
/// `members` each member's name and Cargo.toml.
fn check_manifests(root: &Table, members: &[(String, Table)]) -> Vec<String> {
    let mut errors = Vec::new();
    let ws_lints = root
        .get("workspace")
        .and_then(|w| w.get("lints"))
        .and_then(Value::as_table);
    let forbids = ws_lints
        .and_then(|l| l.get("rust"))
        .and_then(|r| r.get("unsafe_code"))
        .is_some_and(|level| lint_level(level) == Some("forbid"));
    if !forbids {
        errors.push(
            "Cargo.toml: [workspace.lints.rust] must set unsafe_code = \"forbid\" \
             (unsafe_code is allowed only in the crates of UNSAFE_CRATES, xtask/src/lints.rs)"
                .to_string(),
        );
    }
    for (name, manifest) in members {
        let lints = manifest.get("lints").and_then(Value::as_table);
        let inherits = lints
            .and_then(|l| l.get("workspace"))
            .and_then(Value::as_bool)
            == Some(true);
        if !UNSAFE_CRATES.contains(&name.as_str()) {
            if !inherits {
                errors.push(format!(
                    "{name}: Cargo.toml needs [lints] workspace = true (the workspace's lints \
                     forbid unsafe_code; only {} may allow it)",
                    UNSAFE_CRATES.join(", ")
                ));
            }
            continue;
        }
        // An UNSAFE_CRATES member's own tables must be the workspace's minus the
        // forbid, so it drifts from no other lint.
        let mut want = ws_lints.cloned().unwrap_or_default();
        if let Some(Value::Table(rust)) = want.get_mut("rust") {
            rust.remove("unsafe_code");
        }
        let have = lints.cloned().unwrap_or_default();
        if have != want {
            errors.push(format!(
                "{name}: its [lints.rust] / [lints.clippy] must equal [workspace.lints] without \
                 unsafe_code (it allows unsafe_code, so it cannot inherit); have {have:?}, want {want:?}"
            ));
        }
    }
    errors
}

/// `"forbid"` or `{ level = "forbid", ... }` -> `forbid`.
fn lint_level(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Table(t) => t.get("level").and_then(Value::as_str),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"
[workspace]
members = ["a", "seg"]

[workspace.lints.rust]
unsafe_code = "forbid"
missing_docs = "warn"

[workspace.lints.clippy]
undocumented_unsafe_blocks = "deny"
"#;

    const INHERITS: &str = "[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n";

    const OWN_TABLES: &str = r#"
[package]
name = "ct-fifo-segment"

[lints.rust]
missing_docs = "warn"

[lints.clippy]
undocumented_unsafe_blocks = "deny"
"#;

    fn check_texts(root: &str, members: &[(&str, &str)]) -> Vec<String> {
        let members: Vec<(String, Table)> = members
            .iter()
            .map(|(n, t)| (n.to_string(), t.parse().unwrap()))
            .collect();
        check_manifests(&root.parse().unwrap(), &members)
    }

    #[test]
    fn inheriting_members_and_a_matching_unsafe_crate_pass() {
        let errors = check_texts(ROOT, &[("ct-a", INHERITS), ("ct-fifo-segment", OWN_TABLES)]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_member_that_does_not_inherit_fails() {
        let errors = check_texts(ROOT, &[("ct-a", "[package]\nname = \"a\"\n")]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("ct-a: Cargo.toml needs [lints] workspace = true"));
    }

    #[test]
    fn the_workspace_must_forbid_unsafe_code() {
        for level in ["\"deny\"", "{ level = \"warn\" }"] {
            let root = ROOT.replace(
                "unsafe_code = \"forbid\"",
                &format!("unsafe_code = {level}"),
            );
            let errors = check_texts(&root, &[("ct-a", INHERITS)]);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("unsafe_code = \"forbid\""), "{errors:?}");
        }
        let root = ROOT.replace(
            "unsafe_code = \"forbid\"",
            "unsafe_code = { level = \"forbid\" }",
        );
        assert!(check_texts(&root, &[("ct-a", INHERITS)]).is_empty());
    }

    #[test]
    fn the_unsafe_crate_must_not_drift_from_the_workspace() {
        let drifted = OWN_TABLES.replace("missing_docs = \"warn\"", "missing_docs = \"allow\"");
        let errors = check_texts(ROOT, &[("ct-fifo-segment", &drifted)]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("ct-fifo-segment: its [lints.rust]"));
    }
}
