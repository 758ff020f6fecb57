//! The sync-shim rule: every lock and atomic comes from ct-sync, so the code
//! loom model-checks is the code that ships. No member but ct-sync depends
//! on parking_lot, and no source outside ct-sync names std's or
//! parking_lot's locks or atomics (`ct_sync::unmodeled::atomic` is the
//! sanctioned name for std atomics kept out of loom models on purpose).
//!
//! Why a text scan and not the compiler: std is in scope in every crate, so
//! no dependency rule can keep it out, and clippy's `disallowed_types`
//! resolves re-exports, so it would also flag the same types reached
//! through ct_sync's own re-exports. A line-based look for the paths is
//! enough for code that is written to the rule, not against it.

use std::path::Path;

use crate::src_text::{code_lines, contains_word, without_strings};
use crate::workspace::{PackageExt, Workspace, rust_files};

/// The crate that wraps the locks and atomics (directory `sync/`).
pub const SHIM_CRATE: &str = "ct-sync";

/// Paths that name std's or parking_lot's locks and atomics. A prefix also
/// catches the rest of the name (`std::sync::MutexGuard`, `RwLockReadGuard`).
const FORBIDDEN_PATHS: &[&str] = &[
    "std::sync::atomic",
    "core::sync::atomic",
    "std::sync::Mutex",
    "std::sync::RwLock",
    "std::sync::Condvar",
];

/// Names that are forbidden inside a `use std::sync::{...}` group.
const FORBIDDEN_IN_GROUP: &[&str] = &["atomic", "Mutex", "RwLock", "Condvar"];

/// Violations of the rule in the workspace, one message each.
pub fn check(ws: &Workspace) -> Vec<String> {
    let mut errors = Vec::new();
    for p in ws.packages.iter().filter(|p| p.name != SHIM_CRATE) {
        for d in p.dependencies.iter().filter(|d| d.name == "parking_lot") {
            errors.push(format!(
                "{}: depends on parking_lot ({}); take locks from {SHIM_CRATE} instead",
                p.name, d.kind
            ));
        }
        for file in rust_files(p.dir()) {
            let shown = file.strip_prefix(&ws.root).unwrap_or(&file);
            match std::fs::read_to_string(&file) {
                Ok(src) => errors.extend(
                    violations(&src)
                        .into_iter()
                        .map(|(line, what)| message(shown, line, &what)),
                ),
                Err(e) => errors.push(format!("{}: cannot read: {e}", shown.display())),
            }
        }
    }
    errors
}

fn message(file: &Path, line: usize, what: &str) -> String {
    format!(
        "{}:{line}: names `{what}`: take locks and atomics from ct_sync \
         (ct_sync::unmodeled::atomic for atomics kept out of loom models)",
        file.display()
    )
}

/// 1-based lines of `src` that name a forbidden lock or atomic, with the
/// name found. `//` comment lines (docs included) and string literals are
/// skipped: neither names a type.
pub fn violations(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // Brace depth inside a `use std::sync::{` group, which may span lines.
    let mut depth = 0usize;
    for (n, line) in code_lines(src) {
        let code = without_strings(line);
        let mut found: Vec<String> = FORBIDDEN_PATHS
            .iter()
            .filter(|p| code.contains(*p))
            .map(|p| p.to_string())
            .collect();
        if contains_word(&code, "parking_lot") {
            found.push("parking_lot".to_string());
        }
        let mut group = (depth > 0).then_some(code.as_str());
        for prefix in ["std::sync::{", "core::sync::{"] {
            if let Some(at) = code.find(prefix) {
                group = Some(&code[at + prefix.len()..]);
                depth = 1;
            }
        }
        if let Some(text) = group {
            let text = group_body(text, &mut depth);
            for name in group_names(text) {
                if FORBIDDEN_IN_GROUP.iter().any(|f| name.starts_with(f)) {
                    found.push(format!("std::sync::{{{name}}}"));
                }
            }
        }
        out.extend(found.into_iter().map(|what| (n, what)));
    }
    out
}

/// The part of `text` inside a group open `depth` braces deep: up to the
/// brace that closes it (depth then 0), or all of it.
fn group_body<'a>(text: &'a str, depth: &mut usize) -> &'a str {
    for (at, c) in text.char_indices() {
        match c {
            '{' => *depth += 1,
            '}' => {
                *depth -= 1;
                if *depth == 0 {
                    return &text[..at];
                }
            }
            _ => {}
        }
    }
    text
}

/// The leading identifier of each comma-separated item of a `use` group's
/// text (nested braces included).
fn group_names(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '{', '}']).filter_map(|item| {
        let item = item.trim();
        let end = item
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(item.len());
        (end > 0).then(|| &item[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // One literal a line: the scan skips string literals, so this file
    // does not trip its own check.
    const VIOLATING: &str = concat!(
        "use std::sync::atomic::{AtomicU32, Ordering};\n",
        "use core::sync::atomic::AtomicBool;\n",
        "static M: std::sync::Mutex<u8> = std::sync::Mutex::new(0);\n",
        "use std::sync::{Arc, RwLock};\n",
        "use std::sync::{\n",
        "    Arc,\n",
        "    Condvar,\n",
        "};\n",
        "use parking_lot::Mutex;\n",
        "let g: std::sync::MutexGuard<'_, u8>;\n",
        "use std::sync::{atomic::{AtomicBool, Ordering}, Arc};\n",
    );

    const CLEAN: &str = concat!(
        "//! Not std::sync::atomic: a doc comment.\n",
        "// use parking_lot::Mutex; (commented out)\n",
        "use std::sync::{Arc, OnceLock, mpsc};\n",
        "use std::sync::Arc;\n",
        "use ct_sync::unmodeled::atomic::{AtomicU64, Ordering};\n",
        "use ct_sync::{Mutex, RwLock};\n",
        "let not_parking_lot_core = 1;\n",
        "let s = \"std::sync::Mutex in a \\\" string\";\n",
        "use std::sync::{\n",
        "    Arc,\n",
        "    LazyLock,\n",
        "};\n",
        "fn mutex() {}\n",
    );

    #[test]
    fn flags_each_way_of_naming_std_or_parking_lot_locks() {
        let lines: Vec<usize> = violations(VIOLATING).iter().map(|(l, _)| *l).collect();
        assert_eq!(
            lines,
            [1, 2, 3, 4, 7, 9, 10, 11],
            "{:?}",
            violations(VIOLATING)
        );
    }

    #[test]
    fn passes_ct_sync_arc_and_comments() {
        assert!(violations(CLEAN).is_empty(), "{:?}", violations(CLEAN));
    }

    #[test]
    fn a_group_ends_at_its_brace() {
        let src = "use std::sync::{Arc};\nfn Mutex() {}\n";
        assert!(violations(src).is_empty(), "{:?}", violations(src));
    }

    #[test]
    fn message_names_file_line_and_the_fix() {
        let m = message(Path::new("session/src/a.rs"), 3, "parking_lot");
        assert!(
            m.starts_with("session/src/a.rs:3: names `parking_lot`"),
            "{m}"
        );
        assert!(m.contains("ct_sync::unmodeled::atomic"), "{m}");
    }
}
