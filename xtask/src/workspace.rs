//! The workspace as `cargo metadata --no-deps` describes it: members, their
//! dependencies, targets and package metadata.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::cmd;
use crate::json::Json;

/// The kind of a dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// `[dependencies]`
    Normal,
    /// `[dev-dependencies]`
    Dev,
    /// `[build-dependencies]`
    Build,
}

/// One dependency of a member.
#[derive(Debug, Clone)]
pub struct Dep {
    /// Package name (not the rename).
    pub name: String,
    /// Normal, dev or build.
    pub kind: DepKind,
    /// Version requirement as cargo normalised it (`=0.1.0`, `^1.6`, `*`).
    pub req: String,
    /// Set for path dependencies.
    pub path: Option<PathBuf>,
}

/// A build target of a member (lib, bin, test, bench, example).
#[derive(Debug, Clone)]
pub struct Target {
    /// Target name.
    pub name: String,
    /// Cargo's kinds (`lib`, `bin`, `test`, `bench`, `example`, `custom-build`...).
    pub kinds: Vec<String>,
    /// Crate root file.
    pub src_path: PathBuf,
}

/// A workspace member.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Directory holding its Cargo.toml.
    pub dir: PathBuf,
    /// False for `publish = false`.
    pub publish: bool,
    /// `description`
    pub description: Option<String>,
    /// `license`
    pub license: Option<String>,
    /// `readme`, relative to `dir`.
    pub readme: Option<String>,
    /// `repository`
    pub repository: Option<String>,
    /// Declared dependencies.
    pub deps: Vec<Dep>,
    /// Build targets.
    pub targets: Vec<Target>,
}

impl Package {
    /// Crate roots of the lib target, or of the bin targets when there is no lib.
    pub fn crate_roots(&self) -> Vec<&Path> {
        let of_kind = |k: &str| {
            self.targets
                .iter()
                .filter(|t| t.kinds.iter().any(|x| x == k))
                .map(|t| t.src_path.as_path())
                .collect::<Vec<_>>()
        };
        let libs = of_kind("lib");
        if libs.is_empty() {
            of_kind("bin")
        } else {
            libs
        }
    }

    /// Bench targets (names).
    pub fn benches(&self) -> impl Iterator<Item = &Target> {
        self.targets
            .iter()
            .filter(|t| t.kinds.iter().any(|k| k == "bench"))
    }
}

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
    /// Reads the workspace that contains xtask.
    pub fn load() -> Result<Workspace, String> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir);
        let mut c = cmd::cargo(root);
        c.args(["metadata", "--format-version", "1", "--no-deps"]);
        let out = c
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo metadata failed ({})", out.status));
        }
        let text = String::from_utf8(out.stdout).map_err(|_| "cargo metadata: not UTF-8")?;
        Workspace::from_metadata(&text)
    }

    /// Builds the model from `cargo metadata --format-version 1` output.
    pub fn from_metadata(text: &str) -> Result<Workspace, String> {
        let j = Json::parse(text).map_err(|e| format!("cargo metadata: {e}"))?;
        let root = j
            .str_at("workspace_root")
            .ok_or("cargo metadata: no workspace_root")?;
        let target_dir = j
            .str_at("target_directory")
            .ok_or("cargo metadata: no target_directory")?;
        let mut packages = Vec::new();
        for p in j.arr_at("packages") {
            packages.push(package(p)?);
        }
        Ok(Workspace {
            root: root.into(),
            target_dir: target_dir.into(),
            packages,
        })
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

fn package(p: &Json) -> Result<Package, String> {
    let name = p
        .str_at("name")
        .ok_or("cargo metadata: package without name")?;
    let manifest = p
        .str_at("manifest_path")
        .ok_or("cargo metadata: no manifest_path")?;
    let dir = Path::new(manifest)
        .parent()
        .ok_or("cargo metadata: bad manifest_path")?;
    // `publish`: null means anywhere, [] means nowhere (publish = false).
    let publish = !matches!(p.get("publish"), Some(Json::Arr(a)) if a.is_empty());
    let deps = p
        .arr_at("dependencies")
        .iter()
        .map(|d| Dep {
            name: d.str_at("name").unwrap_or_default().to_string(),
            kind: match d.str_at("kind") {
                Some("dev") => DepKind::Dev,
                Some("build") => DepKind::Build,
                _ => DepKind::Normal,
            },
            req: d.str_at("req").unwrap_or("*").to_string(),
            path: d.str_at("path").map(PathBuf::from),
        })
        .collect();
    let targets = p
        .arr_at("targets")
        .iter()
        .map(|t| Target {
            name: t.str_at("name").unwrap_or_default().to_string(),
            kinds: t
                .arr_at("kind")
                .iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            src_path: PathBuf::from(t.str_at("src_path").unwrap_or_default()),
        })
        .collect();
    let opt = |k: &str| p.str_at(k).map(str::to_string);
    Ok(Package {
        name: name.to_string(),
        version: p.str_at("version").unwrap_or("0.0.0").to_string(),
        dir: dir.to_path_buf(),
        publish,
        description: opt("description"),
        license: opt("license"),
        readme: opt("readme"),
        repository: opt("repository"),
        deps,
        targets,
    })
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

    /// A two-member metadata document for tests of the checks.
    pub(crate) const SAMPLE: &str = r#"{
      "packages": [
        {"name": "ct-fifo-segment", "version": "0.1.0", "publish": null,
         "manifest_path": "/ws/fifo-segment/Cargo.toml",
         "description": "d", "license": "Apache-2.0", "readme": "README.md",
         "repository": "https://example.invalid/r",
         "dependencies": [
           {"name": "loom", "req": "^0.7.2", "kind": null, "target": "cfg(loom)"},
           {"name": "proptest", "req": "^1.6", "kind": "dev", "target": null}],
         "targets": [{"name": "fifo_segment", "kind": ["lib"], "src_path": "/ws/fifo-segment/src/lib.rs"},
                     {"name": "loom", "kind": ["test"], "src_path": "/ws/fifo-segment/tests/loom.rs"}]},
        {"name": "xtask", "version": "0.1.0", "publish": [],
         "manifest_path": "/ws/xtask/Cargo.toml",
         "description": null, "license": null, "readme": null, "repository": null,
         "dependencies": [
           {"name": "ct-fifo-segment", "req": "=0.1.0", "kind": null, "target": null,
            "path": "/ws/fifo-segment"}],
         "targets": [{"name": "xtask", "kind": ["bin"], "src_path": "/ws/xtask/src/main.rs"}]}
      ],
      "workspace_root": "/ws", "target_directory": "/ws/target", "version": 1
    }"#;

    #[test]
    fn reads_members_deps_and_targets() {
        let ws = Workspace::from_metadata(SAMPLE).unwrap();
        assert_eq!(ws.root, Path::new("/ws"));
        assert_eq!(ws.target_dir, Path::new("/ws/target"));
        let fs = ws.package("ct-fifo-segment").unwrap();
        assert!(fs.publish);
        assert_eq!(fs.dir, Path::new("/ws/fifo-segment"));
        assert_eq!(
            (fs.deps[0].name.as_str(), fs.deps[0].req.as_str()),
            ("loom", "^0.7.2")
        );
        assert!(fs.deps[0].path.is_none());
        assert_eq!(fs.deps[1].kind, DepKind::Dev);
        assert_eq!(fs.crate_roots(), [Path::new("/ws/fifo-segment/src/lib.rs")]);
        let x = ws.package("xtask").unwrap();
        assert!(!x.publish);
        assert_eq!(
            x.deps[0].path.as_deref(),
            Some(Path::new("/ws/fifo-segment"))
        );
        assert_eq!(x.crate_roots(), [Path::new("/ws/xtask/src/main.rs")]);
        assert!(!ws.is_member("loom"));
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
