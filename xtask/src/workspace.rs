//! The workspace as `cargo metadata --no-deps` describes it, read with the
//! `cargo_metadata` crate: members, their dependencies and targets.

use std::path::{Path, PathBuf};

use cargo_metadata::{MetadataCommand, Package, Target, TargetKind};

/// The workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Directory of the root Cargo.toml.
    pub root: PathBuf,
    /// Where cargo builds (honours `CARGO_TARGET_DIR` and config).
    pub target_dir: PathBuf,
    /// Members, in `cargo metadata` order.
    pub packages: Vec<Package>,
}

impl Workspace {
    /// Reads the workspace that contains xtask, with the cargo that runs
    /// xtask (`cargo_metadata` honours `$CARGO`).
    pub fn load() -> Result<Workspace, String> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir);
        let meta = MetadataCommand::new()
            .current_dir(root)
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .map_err(|e| format!("cargo metadata: {e}"))?;
        Ok(Workspace::from(meta))
    }

    /// Builds the model from `cargo metadata --format-version 1` output.
    #[cfg(test)]
    pub fn from_metadata(text: &str) -> Result<Workspace, String> {
        MetadataCommand::parse(text)
            .map(Workspace::from)
            .map_err(|e| format!("cargo metadata: {e}"))
    }

    /// The member called `name`.
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// Is `name` a workspace member?
    pub fn is_member(&self, name: &str) -> bool {
        self.package(name).is_some()
    }
}

impl From<cargo_metadata::Metadata> for Workspace {
    fn from(meta: cargo_metadata::Metadata) -> Workspace {
        // With --no-deps every package is a member; filtering keeps that
        // true for output produced without it.
        let packages = meta
            .packages
            .iter()
            .filter(|p| meta.workspace_members.contains(&p.id))
            .cloned()
            .collect();
        Workspace {
            root: meta.workspace_root.into(),
            target_dir: meta.target_directory.into(),
            packages,
        }
    }
}

/// What the checks ask of a member beyond `cargo_metadata`'s fields.
pub trait PackageExt {
    /// Directory holding its Cargo.toml.
    fn dir(&self) -> &Path;
    /// May it be published? `publish = false` is `Some([])` in metadata.
    fn publishable(&self) -> bool;
    /// Its targets of one kind.
    fn targets_of(&self, kind: TargetKind) -> impl Iterator<Item = &Target>;
}

impl PackageExt for Package {
    fn dir(&self) -> &Path {
        self.manifest_path
            .parent()
            .map_or(Path::new("."), |d| d.as_std_path())
    }

    fn publishable(&self) -> bool {
        self.publish.as_ref().is_none_or(|to| !to.is_empty())
    }

    fn targets_of(&self, kind: TargetKind) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(move |t| t.is_kind(kind.clone()))
    }
}

/// Every `.rs` file under `dir` (sorted), skipping hidden and `target` dirs.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            match e.file_type() {
                Ok(ft) if ft.is_dir() && name != "target" => stack.push(path),
                Ok(ft) if ft.is_file() && name.ends_with(".rs") => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cargo_metadata::DependencyKind;

    /// A two-member `cargo metadata --no-deps` document (the fields
    /// `cargo_metadata` requires, and those the checks read) for tests of
    /// the checks, which edit it with `replacen`.
    pub(crate) const SAMPLE: &str = r#"{
      "packages": [
        {"name": "ct-fifo-segment", "version": "0.1.0", "id": "path+file:///ws/fifo-segment#0.1.0",
         "publish": null, "features": {},
         "manifest_path": "/ws/fifo-segment/Cargo.toml",
         "description": "d", "license": "Apache-2.0", "readme": "README.md",
         "repository": "https://example.invalid/r",
         "dependencies": [
           {"name": "loom", "req": "^0.7.2", "kind": null, "target": "cfg(loom)",
            "optional": false, "uses_default_features": true, "features": []},
           {"name": "proptest", "req": "^1.6", "kind": "dev", "target": null,
            "optional": false, "uses_default_features": true, "features": []}],
         "targets": [{"name": "fifo_segment", "kind": ["lib"], "src_path": "/ws/fifo-segment/src/lib.rs"},
                     {"name": "loom", "kind": ["test"], "src_path": "/ws/fifo-segment/tests/loom.rs"},
                     {"name": "stream", "kind": ["example"], "src_path": "/ws/fifo-segment/examples/stream.rs"}]},
        {"name": "xtask", "version": "0.1.0", "id": "path+file:///ws/xtask#0.1.0",
         "publish": [], "features": {},
         "manifest_path": "/ws/xtask/Cargo.toml",
         "description": null, "license": null, "readme": null, "repository": null,
         "dependencies": [
           {"name": "ct-fifo-segment", "req": "=0.1.0", "kind": null, "target": null,
            "optional": false, "uses_default_features": true, "features": [],
            "path": "/ws/fifo-segment"}],
         "targets": [{"name": "xtask", "kind": ["bin"], "src_path": "/ws/xtask/src/main.rs"}]}
      ],
      "workspace_members": ["path+file:///ws/fifo-segment#0.1.0", "path+file:///ws/xtask#0.1.0"],
      "workspace_root": "/ws", "target_directory": "/ws/target", "version": 1
    }"#;

    #[test]
    fn reads_members_deps_and_targets() {
        let ws = Workspace::from_metadata(SAMPLE).unwrap();
        assert_eq!(ws.root, Path::new("/ws"));
        assert_eq!(ws.target_dir, Path::new("/ws/target"));
        let fs = ws.package("ct-fifo-segment").unwrap();
        assert!(fs.publishable());
        assert_eq!(fs.dir(), Path::new("/ws/fifo-segment"));
        assert_eq!(
            (
                fs.dependencies[0].name.as_str(),
                fs.dependencies[0].req.to_string()
            ),
            ("loom", "^0.7.2".to_string())
        );
        assert!(fs.dependencies[0].path.is_none());
        assert_eq!(fs.dependencies[1].kind, DependencyKind::Development);
        let examples: Vec<&str> = fs
            .targets_of(TargetKind::Example)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(examples, ["stream"]);
        let x = ws.package("xtask").unwrap();
        assert!(!x.publishable());
        assert_eq!(
            x.dependencies[0].path.as_ref().map(|p| p.as_str()),
            Some("/ws/fifo-segment")
        );
        assert!(!ws.is_member("loom"));
    }

    #[test]
    fn non_members_are_left_out() {
        let text = SAMPLE.replacen(r#", "path+file:///ws/xtask#0.1.0""#, "", 1);
        let ws = Workspace::from_metadata(&text).unwrap();
        assert!(!ws.is_member("xtask"));
        assert!(ws.is_member("ct-fifo-segment"));
    }

    #[test]
    fn finds_rust_files_of_this_crate() {
        let files = rust_files(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(files.iter().any(|f| f.ends_with("src/workspace.rs")));
        assert!(
            files
                .iter()
                .all(|f| f.extension().is_some_and(|e| e == "rs"))
        );
    }
}
