//! The Debian package, end to end on this machine: `scripts/build-deb` builds it, `dpkg -i`
//! installs it, the installed binary, man page and bash completion work, the installed binary
//! probes a real cluster, and `dpkg -r` / `dpkg -P` leave nothing behind but what Debian keeps.
//!
//! One test, since building the release binary takes minutes. It changes the machine (/usr/bin,
//! /etc, a system user), so it needs root and a Debian-like system, holds a lock file against a
//! second run, and undoes everything on the way out, also on panic. The other tests run
//! target/debug/pgreach, never /usr/bin/pgreach, so they cannot see the installed copy.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::process::{CLEAN_PATH, Captured, run};
use support::{Cluster, ClusterSpec, Netns, strings};

const BIN: &str = "/usr/bin/pgreach";
const CONFFILE: &str = "/etc/pgreach/exporter.yml";
const UNIT: &str = "pgreach-exporter.service";
/// Cold: cargo-deb's own install (3 min) and a release build (8 min on CI's two busy cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const DPKG_TIMEOUT: Duration = Duration::from_secs(120);
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Every file the package must install (directories left out).
const EXPECTED_FILES: &[&str] = &[
    "/usr/bin/pgreach",
    "/usr/share/man/man1/pgreach.1.gz",
    "/usr/share/bash-completion/completions/pgreach",
    "/usr/share/zsh/vendor-completions/_pgreach",
    "/usr/share/fish/vendor_completions.d/pgreach.fish",
    "/usr/share/doc/pgreach/README.md",
    "/usr/share/doc/pgreach/copyright",
    "/usr/lib/systemd/system/pgreach-exporter.service",
    CONFFILE,
];

#[test]
fn deb_installs_works_and_removes_cleanly() {
    let _lock = machine_lock();
    assert!(
        !installed(),
        "a pgreach package is installed on this machine already; this test would replace it. \
         Remove it first: dpkg -P pgreach"
    );
    let deb = build_deb();
    check_contents(&deb);
    let _undo = Undo {
        user_existed: user_exists(),
    };

    dpkg(&["-i", path_str(&deb)]);
    let listed = package_files();
    for file in EXPECTED_FILES {
        assert!(
            listed.iter().any(|f| f == Path::new(file)),
            "dpkg -L: no {file}"
        );
        assert!(Path::new(file).exists(), "{file} not installed");
    }
    check_version();
    check_man_page();
    check_bash_completion();
    check_exporter_setup();
    probe_real_cluster();

    dpkg(&["-r", "pgreach"]);
    check_removed(&listed);
    dpkg(&["-P", "pgreach"]);
    check_purged();
}

/// `scripts/build-deb`, timed (the time goes to the test's output): the built .deb.
fn build_deb() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let out = run(
        Command::new(root.join("scripts/build-deb")).current_dir(root),
        BUILD_TIMEOUT,
    );
    assert!(
        out.success(),
        "scripts/build-deb failed\n{}",
        out.describe()
    );
    eprintln!(
        "package_real: scripts/build-deb took {:.0?}",
        started.elapsed()
    );
    let debs: Vec<PathBuf> = fs::read_dir(root.join("target/debian"))
        .expect("target/debian")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb expected: {debs:?}");
    debs.into_iter().next().unwrap()
}

/// The archive's files, and its Depends against what dpkg-shlibdeps finds in the binary.
fn check_contents(deb: &Path) {
    let listing = tool(Command::new("dpkg-deb").args(["-c", path_str(deb)]));
    for file in EXPECTED_FILES {
        assert!(
            listing.contains(&format!(".{file}\n")),
            "no {file} in\n{listing}"
        );
    }
    let depends = tool(Command::new("dpkg-deb").args(["-f", path_str(deb), "Depends"]));
    let packages: Vec<&str> = depends
        .split(',')
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(packages, ["libc6"], "Depends: {depends}");
    // dpkg-shlibdeps (as dh_shlibdeps would run it) on the extracted binary: it may name only
    // libc6 and libgcc-s1, which cargo-deb omits because libc6 itself depends on it.
    let dir = tempfile::tempdir().expect("temp dir");
    tool(Command::new("dpkg-deb").args(["-x", path_str(deb), path_str(dir.path())]));
    fs::create_dir(dir.path().join("debian")).expect("mkdir debian");
    fs::write(dir.path().join("debian/control"), "Source: pgreach\n").expect("control");
    let shlibs = tool(
        Command::new("dpkg-shlibdeps")
            .args(["-O", "usr/bin/pgreach"])
            .current_dir(dir.path()),
    );
    let needed = shlibs.trim().trim_start_matches("shlibs:Depends=");
    for dep in needed.split(',') {
        let name = dep.split_whitespace().next().unwrap_or("");
        assert!(
            name == "libc6" || name == "libgcc-s1",
            "the binary needs {dep}, which Depends ({depends}) lacks"
        );
    }
}

/// `pgreach 0.1.0 (abc1234 2026-12-02)` when built from a git checkout.
fn check_version() {
    let version = tool(Command::new(BIN).arg("--version"));
    let plain = format!("pgreach {}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&plain), "{version}");
    let root = env!("CARGO_MANIFEST_DIR");
    let head = run(
        Command::new("git").args(["-C", root, "log", "-1", "--format=%h %cs", "--abbrev=7"]),
        TOOL_TIMEOUT,
    );
    if head.success() {
        let stamp = format!("{plain} ({})\n", head.stdout_str().trim());
        assert_eq!(version, stamp);
    }
}

/// man finds the page and renders the sections psql's page has.
fn check_man_page() {
    let path = tool(Command::new("man").args(["-w", "pgreach"]));
    assert_eq!(path.trim(), "/usr/share/man/man1/pgreach.1.gz");
    let page = tool(
        Command::new("man")
            .args(["-P", "cat", "pgreach"])
            .env("MANWIDTH", "100"),
    );
    for heading in [
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(
            page.lines().any(|l| l == heading),
            "no {heading} in\n{page}"
        );
    }
    for text in [
        "pgreach sweep",
        "pgreach watch",
        "PGSERVICEFILE",
        "~/.pgpass",
    ] {
        assert!(page.contains(text), "no {text} in\n{page}");
    }
}

/// `pgreach sw<TAB>` offers `sweep`, from the file bash-completion would load.
fn check_bash_completion() {
    let script = r#"
        source /usr/share/bash-completion/completions/pgreach
        COMP_WORDS=(pgreach sw); COMP_CWORD=1; COMP_LINE="pgreach sw"; COMP_POINT=${#COMP_LINE}
        _pgreach pgreach sw pgreach
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let offered = tool(Command::new("bash").args(["--norc", "--noprofile", "-c", script]));
    assert_eq!(offered, "sweep\n");
}

/// The exporter's user, its configuration's owner and mode, and its unit: valid, hardened,
/// installed but neither enabled nor started.
fn check_exporter_setup() {
    let passwd = tool(Command::new("getent").args(["passwd", "pgreach"]));
    assert!(
        passwd
            .trim_end()
            .ends_with(":/nonexistent:/usr/sbin/nologin"),
        "{passwd}"
    );
    let uid: u32 = passwd.split(':').nth(2).unwrap().parse().unwrap();
    assert!(uid < 1000, "a system user: {passwd}");
    let meta = fs::metadata(CONFFILE).expect("conffile");
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.uid(), 0);
    let conffiles = fs::read_to_string("/var/lib/dpkg/info/pgreach.conffiles").unwrap();
    assert_eq!(conffiles.trim(), CONFFILE);

    let unit = fs::read_to_string(format!("/usr/lib/systemd/system/{UNIT}")).unwrap();
    for line in [
        "User=pgreach",
        "ExecStart=/usr/bin/pgreach exporter --config /etc/pgreach/exporter.yml --listen 127.0.0.1:9932",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(unit.lines().any(|l| l == line), "no {line} in\n{unit}");
    }
    let wants = Path::new("/etc/systemd/system/multi-user.target.wants").join(UNIT);
    assert!(!wants.exists(), "the unit must not be enabled");
    let enabled = run(
        Command::new("systemctl").args(["is-enabled", UNIT]),
        TOOL_TIMEOUT,
    );
    assert_eq!(
        enabled.stdout_str().trim(),
        "disabled",
        "{}",
        enabled.describe()
    );
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let verify = run(
            Command::new("systemd-analyze")
                .arg("verify")
                .arg(format!("/usr/lib/systemd/system/{UNIT}")),
            TOOL_TIMEOUT,
        );
        let text = format!("{}{}", verify.stdout_str(), verify.stderr_str());
        assert!(
            !text.lines().any(|l| l.contains(UNIT)),
            "systemd-analyze verify: {text}"
        );
    }
}

/// The installed binary against a real cluster, with the hermetic environment of
/// `support::pgreach_command`.
fn probe_real_cluster() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .password_encryption("scram-sha-256")
            .role("app", "app-secret"),
    );
    let home = tempfile::tempdir().expect("temp HOME");
    let out = run(
        ns.cmd(BIN)
            .args([
                "--json",
                "--quiet-server",
                "-U",
                "app",
                "-d",
                "postgres",
                "127.0.0.1",
            ])
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HOME", home.path())
            .current_dir(home.path()),
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), 0, "{}", out.describe());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let address = support::address(&report, "127.0.0.1");
    assert_eq!(address["tls"]["status"], "ok", "{report:#}");
    assert_eq!(address["startup"]["auth"], "sasl", "{report:#}");
    assert!(strings(&address["startup"]["sasl_mechanisms"]).contains(&"SCRAM-SHA-256"));
}

/// After `dpkg -r`: every file gone but the conffile; what remains is Debian's bookkeeping
/// (the package in state `rc`, deb-systemd-helper's mask of the removed unit).
fn check_removed(listed: &[PathBuf]) {
    for file in listed.iter().filter(|f| !f.is_dir()) {
        let kept = file == Path::new(CONFFILE);
        assert_eq!(file.exists(), kept, "{} after dpkg -r", file.display());
    }
    assert!(
        Path::new(CONFFILE).exists(),
        "the conffile stays until purge"
    );
    let status = tool(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}", "pgreach"]));
    assert_eq!(status.trim(), "rc");
}

/// After `dpkg -P`: the conffile, its directory and the unit's state are gone; the package is
/// unknown to dpkg. The system user stays, as Debian keeps those of purged packages.
fn check_purged() {
    for path in [
        CONFFILE.to_owned(),
        "/etc/pgreach".to_owned(),
        format!("/etc/systemd/system/{UNIT}"),
        format!("/var/lib/systemd/deb-systemd-helper-masked/{UNIT}"),
        format!("/var/lib/systemd/deb-systemd-helper-enabled/{UNIT}.dsh-also"),
    ] {
        assert!(!Path::new(&path).exists(), "{path} after dpkg -P");
    }
    assert!(!installed());
    assert!(user_exists(), "the system user is kept on purge");
}

/// Undoes the test's changes to the machine, also when an assertion failed half-way: purges the
/// package, and deletes the system user unless it was there before.
struct Undo {
    user_existed: bool,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if installed() {
            let _ = run(Command::new("dpkg").args(["-P", "pgreach"]), DPKG_TIMEOUT);
        }
        if !self.user_existed && user_exists() {
            let _ = run(Command::new("userdel").arg("pgreach"), TOOL_TIMEOUT);
        }
    }
}

/// Held for the whole test: a second run of it (another checkout's CI on this machine) waits
/// instead of installing over this one.
fn machine_lock() -> fs::File {
    let file = fs::File::create("/run/lock/pgreach-package-test.lock")
        .expect("lock file (the test needs root)");
    file.lock().expect("lock");
    file
}

fn installed() -> bool {
    let out = run(
        Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}", "pgreach"]),
        TOOL_TIMEOUT,
    );
    // "ii " installed, "rc " only its configuration files left: both are still known to dpkg.
    out.success() && !out.stdout_str().trim().is_empty()
}

fn user_exists() -> bool {
    run(
        Command::new("getent").args(["passwd", "pgreach"]),
        TOOL_TIMEOUT,
    )
    .success()
}

/// The files and directories `dpkg -L` lists for the installed package.
fn package_files() -> Vec<PathBuf> {
    tool(Command::new("dpkg").args(["-L", "pgreach"]))
        .lines()
        .filter(|l| l.starts_with('/') && *l != "/.")
        .map(PathBuf::from)
        .collect()
}

fn dpkg(args: &[&str]) -> Captured {
    let out = run(Command::new("dpkg").args(args), DPKG_TIMEOUT);
    assert!(out.success(), "dpkg {args:?} failed\n{}", out.describe());
    out
}

/// Runs a tool that must succeed; its stdout.
fn tool(cmd: &mut Command) -> String {
    let out = run(cmd, TOOL_TIMEOUT);
    assert!(out.success(), "{}", out.describe());
    out.stdout_str()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
