//! Connection service files against real libpq: for the same service file, environment and
//! connection string, Debian's libpq 15 and npm's libpq 18 connect to (or refuse) the server
//! that pgreach probes, and pgreach reports the service file as the source of the settings.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Cluster, ClusterSpec, Libpq, Netns, PgreachRun, address, run_pgreach, setting};

/// The cluster's port: not libpq's default, so a connection proves the service file was read.
const PORT: u16 = 5544;
/// A port nothing listens on.
const WRONG_PORT: &str = "5999";

/// A HOME, a separate PGSERVICEFILE, and an empty PGSYSCONFDIR (so the machine's own
/// /etc/postgresql-common/pg_service.conf, or the npm build's, never takes part).
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "sysconf"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn home_file(&self) -> PathBuf {
        self.path("home/.pg_service.conf")
    }

    fn write(&self, path: &Path, text: &str) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn display(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// HOME and PGSYSCONFDIR, and `extra`, as owned pairs.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOME".to_string(), self.display("home")),
            ("PGSYSCONFDIR".to_string(), self.display("sysconf")),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A service section for the cluster, with `port`.
fn service(name: &str, port: &str) -> String {
    format!(
        "# test services\n[{name}]\nhost=127.0.0.1\nport={port}\nuser=postgres\ndbname=postgres\n"
    )
}

/// Both libpqs connect (or not) with `conninfo` in `env`; returns their error messages.
#[track_caller]
fn judges(ns: &Netns, conninfo: &str, env: &[(String, String)], ok: bool) -> Vec<String> {
    [Libpq::V15, Libpq::V18]
        .into_iter()
        .map(|libpq| {
            let c = libpq.connect_with_env(ns, conninfo, &borrowed(env));
            assert_eq!(c.lib_version / 10000, libpq.major());
            assert_eq!(c.ok, ok, "libpq {} with {conninfo:?}: {c:?}", libpq.major());
            c.error
        })
        .collect()
}

fn pgreach(ns: &Netns, target: &str, env: &[(String, String)]) -> PgreachRun {
    run_pgreach(
        Some(ns),
        &["--json", "--sslmode", "disable", target],
        &borrowed(env),
    )
}

/// pgreach reached the cluster on 127.0.0.1:PORT, with `port` reported from `source`/`origin`.
#[track_caller]
fn probed_the_cluster(run: &PgreachRun, source: &str, origin: &str) -> Value {
    assert_eq!(run.status, 0, "{run}");
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["port"], PORT, "{a:#}");
    assert_eq!(a["tcp"]["status"], "ok", "{a:#}");
    let port = setting(&report, "port");
    assert_eq!(port["value"], PORT.to_string(), "{port:#}");
    assert_eq!(port["source"], source, "{port:#}");
    assert_eq!(port["origin"], origin, "{port:#}");
    report
}

#[test]
fn service_file_settings_reach_the_server_libpq_reaches() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .port(PORT)
            .hba(&["host all all 127.0.0.1/32 trust"]),
    );
    let files = Files::new();
    let home_file = files.home_file();
    files.write(&home_file, &service("app", &PORT.to_string()));
    let home_origin = format!("{} [app]", home_file.display());

    // The service beats PGHOST and PGPORT, which would lead elsewhere.
    let env = files.env(&[("PGHOST", "192.0.2.1"), ("PGPORT", WRONG_PORT)]);
    judges(&ns, "service=app", &env, true);
    let report = probed_the_cluster(&pgreach(&ns, "service=app", &env), "service", &home_origin);
    let host = setting(&report, "host");
    assert_eq!(
        (&host["value"], &host["source"], &host["origin"]),
        (
            &Value::from("127.0.0.1"),
            &Value::from("service"),
            &Value::from(home_origin.as_str())
        )
    );
    let named = setting(&report, "service");
    assert_eq!(
        (&named["value"], &named["source"]),
        (&Value::from("app"), &Value::from("argument"))
    );

    // PGSERVICE names the service when the string does not.
    let env = files.env(&[("PGSERVICE", "app")]);
    judges(&ns, "host=127.0.0.1", &env, true);
    probed_the_cluster(
        &pgreach(&ns, "host=127.0.0.1", &env),
        "service",
        &home_origin,
    );

    // A port in the connection string beats the service's.
    files.write(&home_file, &service("app", WRONG_PORT));
    let env = files.env(&[]);
    let conninfo = format!("service=app port={PORT}");
    judges(&ns, &conninfo, &env, true);
    probed_the_cluster(&pgreach(&ns, &conninfo, &env), "argument", "conninfo");
    judges(&ns, "service=app", &env, false);

    // PGSERVICEFILE replaces ~/.pg_service.conf (which still leads to the wrong port).
    let chosen = files.path("chosen.conf");
    files.write(&chosen, &service("app", &PORT.to_string()));
    let env = files.env(&[("PGSERVICEFILE", &chosen.display().to_string())]);
    judges(&ns, "service=app", &env, true);
    let origin = format!("{} [app]", chosen.display());
    probed_the_cluster(&pgreach(&ns, "service=app", &env), "service", &origin);

    // A service the user file lacks comes from the system file in PGSYSCONFDIR.
    let system_file = files.path("sysconf/pg_service.conf");
    files.write(&system_file, &service("sys", &PORT.to_string()));
    let env = files.env(&[]);
    judges(&ns, "service=sys", &env, true);
    let origin = format!("{} [sys]", system_file.display());
    probed_the_cluster(&pgreach(&ns, "service=sys", &env), "service", &origin);
}

/// pgreach's error (exit 2) starts with libpq's message, the same from 15 and 18.
#[track_caller]
fn same_error_as_libpq(ns: &Netns, conninfo: &str, env: &[(String, String)], expected: &str) {
    for error in judges(ns, conninfo, env, false) {
        assert_eq!(error, format!("{expected}\n"), "{conninfo:?}");
    }
    let run = pgreach(ns, conninfo, env);
    assert_eq!(run.status, 2, "{run}");
    assert!(
        run.stderr
            .starts_with(&format!("pgreach: {expected} (service from ")),
        "{run}"
    );
}

#[test]
fn service_file_errors_are_libpqs() {
    let ns = Netns::new();
    let files = Files::new();
    let home_file = files.home_file();
    files.write(
        &home_file,
        "[app]\nport=5544\n[nested]\nhost=h\nservice=app\n[typo]\nprot=1\n",
    );
    let env = files.env(&[]);
    let shown = home_file.display();

    same_error_as_libpq(
        &ns,
        "service=x",
        &env,
        "definition of service \"x\" not found",
    );
    let run = pgreach(&ns, "service=x", &env);
    assert!(
        run.stderr
            .contains(&format!("(service from conninfo; not in {shown}, no file ")),
        "{run}"
    );
    let pgservice = files.env(&[("PGSERVICE", "x")]);
    same_error_as_libpq(
        &ns,
        "host=127.0.0.1",
        &pgservice,
        "definition of service \"x\" not found",
    );
    let run = pgreach(&ns, "host=127.0.0.1", &pgservice);
    assert!(run.stderr.contains("(service from PGSERVICE; "), "{run}");

    same_error_as_libpq(
        &ns,
        "service=nested",
        &env,
        &format!("nested service specifications not supported in service file \"{shown}\", line 5"),
    );
    same_error_as_libpq(
        &ns,
        "service=typo",
        &env,
        &format!("syntax error in service file \"{shown}\", line 7"),
    );
    let missing = files.display("missing.conf");
    same_error_as_libpq(
        &ns,
        "service=app",
        &files.env(&[("PGSERVICEFILE", &missing)]),
        &format!("service file \"{missing}\" not found"),
    );
}
