//! Real libpq as a judge: runs tests/support/libpq_judge.c (compiled once per test process
//! with gcc) against Debian's libpq 15 or npm's libpq 18, and reads its answers into types.
//!
//! The judge links against the soname `libpq.so.5`; `LD_LIBRARY_PATH` picks which file
//! answers, and every answer carries the `PQlibVersion` of the library that gave it. No
//! `unsafe` Rust: libpq runs in its own process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::netns::Netns;
use super::pgdist::NpmBuild;
use super::process::{CLEAN_PATH, Captured, run};

/// Debian's libpq5 (libpq 15), the one the judge is linked against.
const DEBIAN_LIBPQ_DIR: &str = "/usr/lib/x86_64-linux-gnu";
const JUDGE_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/libpq_judge.c");
/// Beyond the judge's own connect_timeout of 10 s.
const JUDGE_TIMEOUT: Duration = Duration::from_secs(30);
const GCC_TIMEOUT: Duration = Duration::from_secs(60);

/// Which libpq judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libpq {
    /// Debian's libpq5 15 (`/usr/lib/x86_64-linux-gnu/libpq.so.5`), built with OpenSSL 3.
    V15,
    /// libpq 16 and 17 from the npm PostgreSQL 16 and 17 builds, OpenSSL 1.1.
    V16,
    V17,
    /// libpq 18 from the npm PostgreSQL 18 build (`native/lib/libpq.so.5.18`), OpenSSL 1.1.
    V18,
}

/// What `PQconnectdbParams` made of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// `PQlibVersion()` of the libpq that answered, e.g. 180004.
    pub lib_version: u32,
    /// `PQstatus() == CONNECTION_OK`.
    pub ok: bool,
    /// `PQerrorMessage()`, empty when nothing went wrong.
    pub error: String,
    /// The `server_version` parameter the server reported (when ok).
    pub server_version: Option<String>,
    /// `PQsslInUse()` (false when not ok).
    pub ssl_in_use: bool,
    /// `PQsslAttribute(conn, "protocol")`, e.g. `TLSv1.3` (when ok over SSL).
    pub ssl_protocol: Option<String>,
}

/// What `PQconninfoParse` made of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `PQlibVersion()` of the libpq that answered.
    pub lib_version: u32,
    /// Every option keyword libpq knows, with its value when the string set it; or libpq's
    /// error message (e.g. `invalid connection option "sslnegotiation"`).
    pub options: Result<BTreeMap<String, Option<String>>, String>,
}

impl Parsed {
    /// The value the string set for `keyword` (None when unset, unknown or not parsed).
    pub fn value(&self, keyword: &str) -> Option<&str> {
        self.options.as_ref().ok()?.get(keyword)?.as_deref()
    }
}

impl Libpq {
    /// The major version, as `PQlibVersion() / 10000` reports it.
    pub fn major(self) -> u32 {
        match self {
            Libpq::V15 => 15,
            Libpq::V16 => 16,
            Libpq::V17 => 17,
            Libpq::V18 => 18,
        }
    }

    fn lib_dir(self) -> PathBuf {
        match self {
            Libpq::V15 => PathBuf::from(DEBIAN_LIBPQ_DIR),
            Libpq::V16 | Libpq::V17 | Libpq::V18 => NpmBuild::installed(self.major()).lib_dir(),
        }
    }

    /// Connects with `conninfo` from inside `ns` (connect_timeout 10 s unless `conninfo`
    /// sets one), with an empty HOME: no ~/.pgpass or ~/.postgresql/root.crt.
    pub fn connect(self, ns: &Netns, conninfo: &str) -> Connected {
        self.connect_with_env(ns, conninfo, &[])
    }

    /// [`Libpq::connect`] with these environment variables set (`PGPORT`, `PGREQUIRESSL`,
    /// `PGSERVICEFILE`, …; `("HOME", …)` replaces the empty HOME), to see how libpq merges
    /// them with the connection string.
    pub fn connect_with_env(self, ns: &Netns, conninfo: &str, vars: &[(&str, &str)]) -> Connected {
        self.connect_from(Some(ns), conninfo, vars)
    }

    /// [`Libpq::connect_with_env`] from the root namespace, for a server the test runs there
    /// (a [`super::FakeServer`] listens on the host's loopback).
    pub fn connect_here(self, conninfo: &str, vars: &[(&str, &str)]) -> Connected {
        self.connect_from(None, conninfo, vars)
    }

    fn connect_from(self, ns: Option<&Netns>, conninfo: &str, vars: &[(&str, &str)]) -> Connected {
        let out = self.judge(ns, "connect", conninfo, vars);
        let facts = Facts::read(&out);
        Connected {
            lib_version: facts.lib_version(),
            ok: match facts.one("status") {
                "ok" => true,
                "bad" => false,
                other => panic!("libpq_judge: status {other:?}\n{}", out.describe()),
            },
            error: facts.one("error").to_owned(),
            server_version: facts.get("server_version").map(str::to_owned),
            ssl_in_use: facts.get("ssl_in_use") == Some("1"),
            ssl_protocol: facts.get("ssl_protocol").map(str::to_owned),
        }
    }

    /// Parses `conninfo` (no network: runs in the root namespace).
    pub fn parse(self, conninfo: &str) -> Parsed {
        let out = self.judge(None, "parse", conninfo, &[]);
        let facts = Facts::read(&out);
        let options = match facts.one("parse") {
            "ok" => Ok(facts
                .all("option")
                .map(|o| match o.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (o.to_owned(), None),
                })
                .collect()),
            "error" => Err(facts.one("parse_error").to_owned()),
            other => panic!("libpq_judge: parse {other:?}\n{}", out.describe()),
        };
        Parsed {
            lib_version: facts.lib_version(),
            options,
        }
    }

    /// Runs the judge with this libpq and a cleared environment; panics unless it answered.
    fn judge(
        self,
        ns: Option<&Netns>,
        mode: &str,
        conninfo: &str,
        vars: &[(&str, &str)],
    ) -> Captured {
        let home = tempfile::Builder::new()
            .prefix(&format!("pgr-home-{}-", std::process::id()))
            .tempdir()
            .expect("temp HOME for libpq_judge");
        let mut lib_path = std::ffi::OsString::from("LD_LIBRARY_PATH=");
        lib_path.push(self.lib_dir());
        // `env` sets the library path for the judge only, not for `ip` in front of it.
        let mut cmd = match ns {
            Some(ns) => ns.cmd("/usr/bin/env"),
            None => Command::new("/usr/bin/env"),
        };
        cmd.arg(lib_path)
            .arg(judge_binary())
            .args([mode, conninfo])
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("LC_ALL", "C")
            .env("HOME", home.path())
            .envs(vars.iter().copied())
            .current_dir(home.path());
        let out = run(&mut cmd, JUDGE_TIMEOUT);
        if !out.success() {
            panic!("libpq_judge ({self:?}) did not answer\n{}", out.describe());
        }
        out
    }
}

/// The judge's `KEY VALUE` lines, values unescaped.
struct Facts(Vec<(String, String)>);

impl Facts {
    fn read(out: &Captured) -> Facts {
        let facts = out
            .stdout_str()
            .lines()
            .map(|line| {
                let (key, value) = line.split_once(' ').unwrap_or((line, ""));
                (key.to_owned(), unescape(value))
            })
            .collect();
        Facts(facts)
    }

    fn all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.all(key).next()
    }

    #[track_caller]
    fn one(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("libpq_judge printed no {key:?}: {:?}", self.0))
    }

    #[track_caller]
    fn lib_version(&self) -> u32 {
        let v = self.one("libversion");
        v.parse()
            .unwrap_or_else(|_| panic!("libpq_judge: libversion {v:?}"))
    }
}

/// Reverses the judge's escaping (`\\`, `\n`, `\r`, `\t`, `\xHH`).
fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let byte = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or_else(|| panic!("libpq_judge: bad escape in {s:?}"));
                out.push(byte);
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The judge, compiled with gcc on first use in this process (into a new file renamed into
/// place, so concurrent test processes never run a half-written binary).
fn judge_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let target = dir.join("libpq_judge");
        let partial = dir.join(format!("libpq_judge.{}.partial", std::process::id()));
        let mut gcc = Command::new("gcc");
        gcc.args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&partial)
            .arg(JUDGE_SOURCE)
            .arg(Path::new(DEBIAN_LIBPQ_DIR).join("libpq.so.5"));
        run(&mut gcc, GCC_TIMEOUT).ok("gcc libpq_judge.c (needs gcc and libpq5)");
        std::fs::rename(&partial, &target)
            .unwrap_or_else(|e| panic!("rename {} into place: {e}", partial.display()));
        target
    })
}
