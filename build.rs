//! Build script: stamps `pgreach --version` with the commit it was built from, when built from a
//! git checkout of pgreach itself (`pgreach 0.1.0 (abc1234 2026-12-02)`), else the plain version.
//!
//! A crate unpacked from crates.io has no `.git`, and one unpacked inside some other repository
//! (a vendor directory, `target/package/` during `cargo package`) must not take that
//! repository's commit: the stamp is used only when git's top level is this crate's own
//! directory. Any failure of git (not installed, not a repository) falls back to the plain
//! version; the build never fails for it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    // Without this line Cargo would rerun the script after any change in the package.
    println!("cargo:rerun-if-changed=build.rs");
    let (stamped, date) = match commit(&manifest_dir) {
        Some((hash, date)) => (format!("{version} ({hash} {date})"), date),
        None => (version, String::new()),
    };
    println!("cargo:rustc-env=PGREACH_VERSION={stamped}");
    println!("cargo:rustc-env=PGREACH_COMMIT_DATE={date}");
}

/// HEAD's short hash and committer date (`abc1234`, `2026-12-02`), after the rerun-if-changed
/// lines for the files that change when HEAD moves; None outside pgreach's own checkout.
fn commit(dir: &Path) -> Option<(String, String)> {
    let toplevel = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&toplevel).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    watch_head(dir);
    let line = git(dir, &["log", "-1", "--format=%h %cs", "--abbrev=7"])?;
    let (hash, date) = line.split_once(' ')?;
    Some((hash.to_owned(), date.to_owned()))
}

/// Asks Cargo to rerun the script when HEAD moves: a checkout changes `HEAD`, a commit changes
/// the branch's ref file, `git pack-refs` moves it into `packed-refs`. `--git-path` resolves
/// each to the right directory in a linked worktree too. A path that does not exist is left
/// out, since Cargo would then rerun the script on every build.
fn watch_head(dir: &Path) {
    let mut paths = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for name in paths {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}

/// One git command's trimmed stdout, or None if it could not run or failed.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}
