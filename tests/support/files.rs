//! Files and directories the harness makes for servers and clients: contents, mode and owner
//! in one call, every failure naming the path.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `contents` to `path` with the permission bits `mode` (e.g. 0o600 for a key).
pub fn write_with_mode(path: &Path, contents: &str, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// [`write_with_mode`], then owned by `(uid, gid)`: a file a server running as `postgres`
/// reads (see [`postgres_ids`]).
pub fn write_owned(path: &Path, contents: &str, mode: u32, (uid, gid): (u32, u32)) {
    write_with_mode(path, contents, mode);
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// The uid and gid of the `postgres` user, which Debian's PostgreSQL package creates.
pub fn postgres_ids() -> (u32, u32) {
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .expect("user postgres (is postgresql-15 installed?)");
    (user.uid.as_raw(), user.gid.as_raw())
}

/// A temporary directory `pgr-cluster-<pid>-<kind>…` (a name the harness's stale cleanup
/// knows), mode 0755 and owned by `postgres`, for a server's files; removed on drop.
pub fn postgres_dir(kind: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("pgr-cluster-{}-{kind}", std::process::id()))
        .tempdir()
        .unwrap_or_else(|e| panic!("create a temp dir for {kind:?}: {e}"));
    let (uid, gid) = postgres_ids();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", dir.path().display()));
    dir
}
