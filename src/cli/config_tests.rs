//! End-to-end tests from a command line to `config::load_with`: arguments (parsed by clap, as
//! typed) and an injected environment in, a validated `Config` with the source of every setting
//! out. The process environment is never read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use clap::Parser;

use super::Args;
use crate::config::*;

/// Command-line arguments after "pgreach".
type Argv = &'static [&'static str];
/// Environment variables.
type Vars = &'static [(&'static str, &'static str)];
/// Arguments and environment built at run time (to embed a password).
type Dynamic = (Vec<String>, Vec<(&'static str, String)>);

/// A machine with no local PostgreSQL socket, unless a test says otherwise.
fn no_socket(_: &Path) -> bool {
    false
}

fn args(argv: &[&str]) -> Input {
    Args::try_parse_from(std::iter::once("pgreach").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .into()
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |key| map.get(key).cloned()
}

fn load_ok(argv: &[&str], vars: &[(&str, &str)]) -> Config {
    load_with(&args(argv), &env_of(vars), &no_socket)
        .unwrap_or_else(|e| panic!("{argv:?} {vars:?}: {e}"))
}

fn load_err(argv: &[&str], vars: &[(&str, &str)]) -> String {
    match load_with(&args(argv), &env_of(vars), &no_socket) {
        Ok(config) => panic!("{argv:?} {vars:?} loaded: {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// (value, source, origin) of one reported setting.
fn setting(config: &Config, name: &str) -> (String, Source, String) {
    let s = config
        .setting(name)
        .unwrap_or_else(|| panic!("no setting {name} in {:?}", config.settings));
    (s.value.clone(), s.source, s.origin.clone())
}

fn s(value: &str, source: Source, origin: &str) -> (String, Source, String) {
    (value.to_string(), source, origin.to_string())
}

fn name(host: &str, port: u16) -> Endpoint {
    Endpoint {
        host: HostSpec::Name(host.to_string()),
        port,
    }
}

fn ip(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        host: HostSpec::Ip(addr.parse().unwrap()),
        port,
    }
}

fn socket(dir: &str, port: u16) -> Endpoint {
    Endpoint {
        host: HostSpec::Socket(dir.into()),
        port,
    }
}

#[test]
fn defaults_with_an_empty_environment() {
    // libpq takes the user from the account database, not $USER.
    let config = load_ok(&[], &[("USER", "alice")]);
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    // Like libpq: the socket directory only, never TCP localhost.
    assert_eq!(config.endpoints, vec![socket("/var/run/postgresql", 5432)]);
    assert_eq!(config.user, me);
    assert_eq!(config.dbname, me);
    assert_eq!(config.application_name, "pgreach");
    assert_eq!(config.sslmode, SslMode::Prefer);
    assert_eq!(config.connect_timeout, Duration::from_secs(10));
    assert_eq!(config.password, None);
    assert_eq!(config.sslrootcert, None);
    assert_eq!(config.env_mode, EnvMode::Libpq);
    assert_eq!(config.color, ColorChoice::Auto);

    assert_eq!(
        setting(&config, "port"),
        s("5432", Source::Default, "libpq default")
    );
    let uid = nix::unistd::geteuid();
    assert_eq!(
        setting(&config, "user"),
        s(&me, Source::Default, &format!("OS user (uid {uid})"))
    );
    assert_eq!(
        setting(&config, "dbname"),
        s(&me, Source::Default, "libpq default: same as user")
    );
    assert_eq!(setting(&config, "sslmode").0, "prefer");
    assert_eq!(setting(&config, "connect_timeout").0, "10");
    assert_eq!(setting(&config, "application_name").0, "pgreach");
    assert_eq!(setting(&config, "host").1, Source::Default);
    assert!(config.setting("password").is_none());
    assert!(config.setting("hostaddr").is_none());
    assert!(config.setting("sslkey").is_none());
}

#[test]
fn settings_are_in_a_stable_order() {
    let config = load_ok(
        &[
            "--sslkey",
            "k",
            "--sslcert",
            "c",
            "--sslrootcert",
            "r",
            "postgres://u:pw@h/db?gssencmode=disable&hostaddr=10.0.0.1&options=-cx%3D1",
        ],
        &[],
    );
    let names: Vec<&str> = config.settings.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        vec![
            "host",
            "hostaddr",
            "port",
            "user",
            "dbname",
            "password",
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "connect_timeout",
            "application_name",
            "options",
            "gssencmode",
        ]
    );
}

#[test]
fn default_host_is_a_local_socket_when_one_exists() {
    let debian = |p: &Path| p == Path::new("/var/run/postgresql/.s.PGSQL.5432");
    let config = load_with(&args(&[]), &env_of(&[]), &debian).unwrap();
    assert_eq!(config.endpoints, vec![socket("/var/run/postgresql", 5432)]);
    assert_eq!(
        config.endpoints[0].socket_file(),
        Some("/var/run/postgresql/.s.PGSQL.5432".into())
    );
    assert_eq!(
        setting(&config, "host"),
        s(
            "/var/run/postgresql",
            Source::Default,
            "libpq's socket directory; socket /var/run/postgresql/.s.PGSQL.5432 exists"
        )
    );
}

#[test]
fn every_positional_form() {
    let cases: Vec<(&str, Vec<Endpoint>, &str)> = vec![
        (
            "db.example.com",
            vec![name("db.example.com", 5432)],
            "host:port",
        ),
        (
            "db.example.com:6432",
            vec![name("db.example.com", 6432)],
            "host:port",
        ),
        ("192.0.2.7:5433", vec![ip("192.0.2.7", 5433)], "host:port"),
        (
            "[2001:db8::1]:5433",
            vec![ip("2001:db8::1", 5433)],
            "host:port",
        ),
        ("::1", vec![ip("::1", 5432)], "host:port"),
        ("fe80::1", vec![ip("fe80::1", 5432)], "host:port"),
        (
            "/var/run/postgresql",
            vec![socket("/var/run/postgresql", 5432)],
            "socket path",
        ),
        (
            "/tmp/.s.PGSQL.5433",
            vec![socket("/tmp", 5433)],
            "socket path",
        ),
        ("postgres://db:5433/app", vec![name("db", 5433)], "uri"),
        ("postgresql://[::1]/app", vec![ip("::1", 5432)], "uri"),
        ("host=db port=5433", vec![name("db", 5433)], "conninfo"),
        (
            "a:5432,b:5433",
            vec![name("a", 5432), name("b", 5433)],
            "host:port",
        ),
    ];
    for (target, endpoints, origin) in cases {
        let config = load_ok(&[target], &[]);
        assert_eq!(config.endpoints, endpoints, "{target}");
        let host = setting(&config, "host");
        assert_eq!(
            (host.1, host.2.as_str()),
            (Source::Argument, origin),
            "{target}"
        );
    }
}

#[test]
fn host_display_is_what_the_user_typed() {
    let config = load_ok(&["postgres://db.example/x?hostaddr=10.1.2.3"], &[]);
    assert_eq!(
        config.endpoints[0].host,
        HostSpec::HostAddr {
            name: Some("db.example".into()),
            addr: "10.1.2.3".parse::<IpAddr>().unwrap()
        }
    );
    assert_eq!(
        config.endpoints[0].host.display(),
        "db.example (hostaddr 10.1.2.3)"
    );
    assert_eq!(load_ok(&["::1"], &[]).endpoints[0].host.display(), "::1");
    assert_eq!(load_ok(&["/tmp"], &[]).endpoints[0].host.display(), "/tmp");
    assert_eq!(load_ok(&["db"], &[]).endpoints[0].host.display(), "db");
}

#[test]
fn precedence_flag_over_argument_over_app_over_pg_over_default() {
    let everything = [
        ("PGHOST", "pg-host"),
        ("PGPORT", "5001"),
        ("PGUSER", "pg-user"),
        ("PGDATABASE", "pg-db"),
        ("PGSSLMODE", "disable"),
        ("PGCONNECT_TIMEOUT", "1"),
        (
            "DATABASE_URL",
            "postgres://url-user@url-host:5002/url-db?sslmode=allow",
        ),
    ];

    // Only the environment: DATABASE_URL beats PG*, PG* fills the gaps.
    let config = load_ok(&[], &everything);
    assert_eq!(config.endpoints, vec![name("url-host", 5002)]);
    assert_eq!(
        setting(&config, "host"),
        s("url-host", Source::Env, "DATABASE_URL")
    );
    assert_eq!(
        setting(&config, "user"),
        s("url-user", Source::Env, "DATABASE_URL")
    );
    assert_eq!(
        setting(&config, "sslmode"),
        s("allow", Source::Env, "DATABASE_URL")
    );
    assert_eq!(
        setting(&config, "connect_timeout"),
        s("1", Source::Env, "PGCONNECT_TIMEOUT")
    );
    assert_eq!(config.connect_timeout, Duration::from_secs(1));

    // A positional target replaces DATABASE_URL entirely; PG* still fills the gaps.
    let config = load_ok(&["arg-host:5003"], &everything);
    assert_eq!(config.endpoints, vec![name("arg-host", 5003)]);
    assert_eq!(
        setting(&config, "host"),
        s("arg-host", Source::Argument, "host:port")
    );
    assert_eq!(
        setting(&config, "port"),
        s("5003", Source::Argument, "host:port")
    );
    assert_eq!(
        setting(&config, "user"),
        s("pg-user", Source::Env, "PGUSER")
    );
    assert_eq!(
        setting(&config, "dbname"),
        s("pg-db", Source::Env, "PGDATABASE")
    );
    assert_eq!(
        setting(&config, "sslmode"),
        s("disable", Source::Env, "PGSSLMODE")
    );

    // Flags beat everything, but only for what they set: -h keeps the target's port.
    let config = load_ok(
        &[
            "-h",
            "flag-host",
            "-U",
            "flag-user",
            "--sslmode",
            "require",
            "arg-host:5003",
        ],
        &everything,
    );
    assert_eq!(config.endpoints, vec![name("flag-host", 5003)]);
    assert_eq!(
        setting(&config, "host"),
        s("flag-host", Source::Flag, "--host")
    );
    assert_eq!(
        setting(&config, "port"),
        s("5003", Source::Argument, "host:port")
    );
    assert_eq!(
        setting(&config, "user"),
        s("flag-user", Source::Flag, "--username")
    );
    // dbname defaults to nothing here: PGDATABASE is still the source.
    assert_eq!(
        setting(&config, "dbname"),
        s("pg-db", Source::Env, "PGDATABASE")
    );
    assert_eq!(config.sslmode, SslMode::Require);

    // A URI target's keywords beat PG*, and PG* fill what it leaves out.
    let config = load_ok(&["postgres://h/"], &everything);
    assert_eq!(config.endpoints, vec![name("h", 5001)]);
    assert_eq!(setting(&config, "port"), s("5001", Source::Env, "PGPORT"));
    assert_eq!(
        setting(&config, "dbname"),
        s("pg-db", Source::Env, "PGDATABASE")
    );
}

#[test]
fn every_flag_is_applied_with_its_long_name_as_origin() {
    let config = load_ok(
        &[
            "-h",
            "h",
            "-p",
            "5999",
            "-U",
            "u",
            "-d",
            "d",
            "--sslmode",
            "verify-ca",
            "--sslrootcert",
            "/ca.pem",
            "--sslcert",
            "/c.pem",
            "--sslkey",
            "/k.pem",
            "--connect-timeout",
            "2.5",
        ],
        &[],
    );
    let expected = [
        ("host", "h", "--host"),
        ("port", "5999", "--port"),
        ("user", "u", "--username"),
        ("dbname", "d", "--dbname"),
        ("sslmode", "verify-ca", "--sslmode"),
        ("sslrootcert", "/ca.pem", "--sslrootcert"),
        ("sslcert", "/c.pem", "--sslcert"),
        ("sslkey", "/k.pem", "--sslkey"),
        ("connect_timeout", "2.5", "--connect-timeout"),
    ];
    for (key, value, origin) in expected {
        assert_eq!(
            setting(&config, key),
            s(value, Source::Flag, origin),
            "{key}"
        );
    }
    assert_eq!(config.connect_timeout, Duration::from_millis(2500));
    assert_eq!(config.sslrootcert.as_deref(), Some("/ca.pem"));
    assert_eq!(config.sslcert.as_deref(), Some("/c.pem"));
    assert_eq!(config.sslkey.as_deref(), Some("/k.pem"));
}

#[test]
fn dbname_flag_may_be_a_connection_string() {
    let config = load_ok(
        &[
            "-d",
            "postgres://u@dh:5544/real?sslmode=require",
            "-p",
            "5555",
        ],
        &[],
    );
    assert_eq!(config.endpoints, vec![name("dh", 5555)]);
    assert_eq!(setting(&config, "host"), s("dh", Source::Flag, "--dbname"));
    assert_eq!(
        setting(&config, "dbname"),
        s("real", Source::Flag, "--dbname")
    );
    assert_eq!(setting(&config, "port"), s("5555", Source::Flag, "--port"));
    assert_eq!(config.sslmode, SslMode::Require);

    let config = load_ok(&["-d", "host=ch dbname=x"], &[]);
    assert_eq!(config.endpoints, vec![name("ch", 5432)]);
    assert_eq!(config.dbname, "x");
}

#[test]
fn django_mode_reads_db_vars_and_ignores_database_url() {
    let vars = [
        ("DATABASE_URL", "postgres://url-host/url-db"),
        ("DB_HOST", "dj-host"),
        ("DB_PORT", "6543"),
        ("DB_NAME", "dj-db"),
        ("DB_USER", "dj-user"),
        ("DB_PASSWORD", "dj-secret"),
        ("DB_SSLMODE", "verify-full"),
        ("DB_SSLROOTCERT", "/etc/ssl/rds.pem"),
        ("PGHOST", "pg-host"),
        ("PGAPPNAME", "worker"),
    ];
    let config = load_ok(&["--env", "django"], &vars);
    assert_eq!(config.env_mode, EnvMode::Django);
    assert_eq!(config.endpoints, vec![name("dj-host", 6543)]);
    assert_eq!(config.dbname, "dj-db");
    assert_eq!(config.user, "dj-user");
    assert_eq!(
        config.password.as_ref().map(Secret::expose),
        Some("dj-secret")
    );
    assert_eq!(config.sslmode, SslMode::VerifyFull);
    assert_eq!(config.sslrootcert.as_deref(), Some("/etc/ssl/rds.pem"));
    assert_eq!(config.application_name, "worker");
    assert_eq!(
        setting(&config, "host"),
        s("dj-host", Source::Env, "DB_HOST")
    );
    assert_eq!(
        setting(&config, "password"),
        s("***", Source::Env, "DB_PASSWORD")
    );
    assert_eq!(
        setting(&config, "application_name"),
        s("worker", Source::Env, "PGAPPNAME")
    );

    // An empty DB_HOST means "not set" (Django then lets libpq use PGHOST).
    let config = load_ok(
        &["--env", "django"],
        &[("DB_HOST", ""), ("PGHOST", "pg-host")],
    );
    assert_eq!(
        setting(&config, "host"),
        s("pg-host", Source::Env, "PGHOST")
    );

    // A positional target still beats the DB_* variables.
    let config = load_ok(&["--env", "django", "arg-host"], &vars);
    assert_eq!(config.endpoints, vec![name("arg-host", 6543)]);
    assert_eq!(setting(&config, "port"), s("6543", Source::Env, "DB_PORT"));
}

#[test]
fn multi_host_port_lists() {
    let cases: Vec<(&str, Vec<Endpoint>)> = vec![
        (
            "host=a,b,c port=5433",
            vec![name("a", 5433), name("b", 5433), name("c", 5433)],
        ),
        (
            "host=a,b port=5433,5434",
            vec![name("a", 5433), name("b", 5434)],
        ),
        (
            "postgres://a:5433,[::1]:5434,/db",
            vec![
                name("a", 5433),
                ip("::1", 5434),
                socket("/var/run/postgresql", 5432),
            ],
        ),
        (
            "host=a,/tmp hostaddr=10.0.0.1,",
            vec![
                Endpoint {
                    host: HostSpec::HostAddr {
                        name: Some("a".into()),
                        addr: "10.0.0.1".parse().unwrap(),
                    },
                    port: 5432,
                },
                socket("/tmp", 5432),
            ],
        ),
    ];
    for (target, endpoints) in cases {
        assert_eq!(load_ok(&[target], &[]).endpoints, endpoints, "{target}");
    }
    let config = load_ok(&["host=a,b port=5433,5434"], &[]);
    assert_eq!(
        setting(&config, "host"),
        s("a,b", Source::Argument, "conninfo")
    );
    assert_eq!(setting(&config, "port").0, "5433,5434");
}

#[test]
fn pghostaddr_applies_to_a_host_from_the_command_line_like_libpq() {
    let config = load_ok(&["-h", "db.example"], &[("PGHOSTADDR", "192.0.2.1")]);
    assert_eq!(
        config.endpoints[0].host,
        HostSpec::HostAddr {
            name: Some("db.example".into()),
            addr: "192.0.2.1".parse().unwrap()
        }
    );
    assert_eq!(
        setting(&config, "hostaddr"),
        s("192.0.2.1", Source::Env, "PGHOSTADDR")
    );
}

#[test]
fn sslmode_defaults_and_sslrootcert_system() {
    let config = load_ok(&["--sslrootcert", "system", "h"], &[]);
    assert_eq!(config.sslmode, SslMode::VerifyFull);
    assert_eq!(config.sslrootcert.as_deref(), Some("system"));
    assert_eq!(
        setting(&config, "sslmode"),
        s(
            "verify-full",
            Source::Default,
            "libpq default with sslrootcert=system"
        )
    );
    // An explicit sslmode is kept even with system (libpq refuses weak ones; the diagnosis says so).
    let config = load_ok(
        &["--sslrootcert", "system", "--sslmode", "require", "h"],
        &[],
    );
    assert_eq!(config.sslmode, SslMode::Require);
}

#[test]
fn connect_timeout_values() {
    let cases = [
        ("3", Duration::from_secs(3)),
        ("2.5", Duration::from_millis(2500)),
        (" 7 ", Duration::from_secs(7)),
        ("0.25", Duration::from_millis(250)),
    ];
    for (given, expected) in cases {
        let config = load_ok(&["--connect-timeout", given, "h"], &[]);
        assert_eq!(config.connect_timeout, expected, "{given}");
    }
    for forever in ["0", "-5"] {
        let config = load_ok(&["h"], &[("PGCONNECT_TIMEOUT", forever)]);
        assert_eq!(config.connect_timeout, Duration::from_secs(10), "{forever}");
        let (value, source, origin) = setting(&config, "connect_timeout");
        assert_eq!((value.as_str(), source), ("10", Source::Env));
        assert!(origin.starts_with("PGCONNECT_TIMEOUT gave"), "{origin}");
        assert!(origin.contains("libpq would wait indefinitely"), "{origin}");
    }
}

#[test]
fn application_name_sources() {
    let config = load_ok(&["host=h fallback_application_name=fb"], &[]);
    assert_eq!(config.application_name, "fb");
    assert_eq!(
        setting(&config, "application_name"),
        s(
            "fb",
            Source::Argument,
            "conninfo (fallback_application_name)"
        )
    );
    let config = load_ok(
        &["host=h fallback_application_name=fb application_name=app"],
        &[("PGAPPNAME", "env")],
    );
    assert_eq!(config.application_name, "app");
    let config = load_ok(&["h"], &[("PGAPPNAME", "env")]);
    assert_eq!(config.application_name, "env");
}

#[test]
fn recorded_keywords_are_reported_but_marked_unused() {
    let config = load_ok(
        &[
            "host=h gssencmode=disable sslnegotiation=direct target_session_attrs=read-write sslpassword=kp",
        ],
        &[("PGCHANNELBINDING", "require")],
    );
    assert_eq!(
        setting(&config, "gssencmode"),
        s(
            "disable",
            Source::Argument,
            "conninfo (recorded; not used by pgreach)"
        )
    );
    assert_eq!(setting(&config, "sslnegotiation").0, "direct");
    assert_eq!(setting(&config, "target_session_attrs").0, "read-write");
    assert_eq!(
        setting(&config, "channel_binding"),
        s(
            "require",
            Source::Env,
            "PGCHANNELBINDING (recorded; not used by pgreach)"
        )
    );
    assert_eq!(setting(&config, "sslpassword").0, "***");
}

#[test]
fn errors_name_the_value_and_where_it_came_from() {
    let cases: &[(Argv, Vars, &str)] = &[
        (
            &["--port", "70000", "h"],
            &[],
            "invalid port \"70000\" (from --port): must be 1..65535",
        ),
        (
            &["h:0"],
            &[],
            "invalid port \"0\" (from host:port): must be 1..65535",
        ),
        (
            &["h"],
            &[("PGPORT", "x")],
            "invalid port \"x\" (from PGPORT): must be 1..65535",
        ),
        (
            &["--env", "django"],
            &[("DB_PORT", "65536")],
            "invalid port \"65536\" (from DB_PORT): must be 1..65535",
        ),
        (
            &["--sslmode", "requre", "h"],
            &[],
            "invalid sslmode \"requre\" (from --sslmode): expected one of disable, allow, prefer, require, verify-ca, verify-full",
        ),
        (
            &["--connect-timeout", "soon", "h"],
            &[],
            "invalid connect_timeout \"soon\" (from --connect-timeout): expected a number of seconds",
        ),
        (
            &["--connect-timeout", "inf", "h"],
            &[],
            "invalid connect_timeout \"inf\" (from --connect-timeout)",
        ),
        (
            &["--connect-timeout", "1e-9", "h"],
            &[],
            "invalid connect_timeout \"1e-9\" (from --connect-timeout)",
        ),
        (
            &["postgres://[::1:5432/db"],
            &[],
            "cannot parse URI \"postgres://[::1:5432/db\": missing \"]\"",
        ),
        (
            &["host=h foo=bar"],
            &[],
            "invalid connection option \"foo\" in conninfo",
        ),
        (
            &["postgres://h/db?foo=bar"],
            &[],
            "invalid URI query parameter \"foo\"",
        ),
        (
            &["host=a,b port=1,2,3"],
            &[],
            "could not match 3 port numbers to 2 hosts",
        ),
        (
            &["host=a,b hostaddr=10.0.0.1"],
            &[],
            "could not match 2 host names to 1 hostaddr values",
        ),
        (
            &["host=h hostaddr=not-an-ip"],
            &[],
            "invalid hostaddr \"not-an-ip\" (from conninfo)",
        ),
        (
            &[],
            &[("DATABASE_URL", "mysql://u@h/db")],
            "unsupported URI scheme \"mysql\"",
        ),
    ];
    for (argv, vars, needle) in cases {
        let err = load_err(argv, vars);
        assert!(
            err.contains(needle),
            "{argv:?} {vars:?}:\n  got  {err}\n  want {needle}"
        );
    }
}

#[test]
fn passwords_never_leak() {
    const PW: &str = "Tr0ub4dor";
    let cases: Vec<Dynamic> = vec![
        (vec![format!("postgres://u:{PW}@h/db")], vec![]),
        (vec![format!("postgres://h/db?password={PW}")], vec![]),
        (vec![format!("host=h password='{PW}'")], vec![]),
        (vec!["h".into()], vec![("PGPASSWORD", PW.to_string())]),
        (
            vec!["--env".into(), "django".into()],
            vec![("DB_HOST", "h".into()), ("DB_PASSWORD", PW.to_string())],
        ),
        (
            vec![],
            vec![("DATABASE_URL", format!("postgres://u:{PW}@h/db"))],
        ),
        (vec!["-d".into(), format!("host=h password={PW}")], vec![]),
    ];
    for (argv, vars) in cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config = load_ok(&argv, &vars);
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some(PW),
            "{argv:?}"
        );
        let debug = format!("{config:?}");
        assert!(!debug.contains(PW), "{argv:?}: {debug}");
        let json = serde_json::to_string(&config.settings).unwrap();
        assert!(!json.contains(PW), "{argv:?}: {json}");
        assert_eq!(setting(&config, "password").0, "***");
        assert_eq!(format!("{}", config.password.unwrap()), "***");
    }
}

#[test]
fn passwords_never_appear_in_errors() {
    const PW: &str = "Tr0ub4dor";
    let cases: Vec<Dynamic> = vec![
        (vec![format!("postgres://u:{PW}@[::1/db")], vec![]),
        (vec![format!("postgres://u:{PW}@h:99999/db")], vec![]),
        (vec![format!("postgres://u:{PW}@h/db?bogus=1")], vec![]),
        (
            vec![format!("postgres://h/db?password={PW}&bogus=1")],
            vec![],
        ),
        (vec![format!("postgres://h/db?password={PW}=x")], vec![]),
        (vec![format!("host=h password='{PW}")], vec![]),
        (vec![format!("host=h password={PW} bogus=1")], vec![]),
        (vec![format!("mysql://u:{PW}@h/db")], vec![]),
    ];
    for (argv, vars) in cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = load_with(&args(&argv), &env_of(&vars), &no_socket).unwrap_err();
        assert!(!err.to_string().contains(PW), "{argv:?}: {err}");
        assert!(!format!("{err:?}").contains(PW), "{argv:?}: {err:?}");
    }
}

/// What the application's libpq refuses is not pgreach's usage error: the probe runs, and the
/// refusal (in libpq's words, naming where the setting came from) becomes a finding.
#[test]
fn settings_libpq_refuses_are_recorded_not_usage_errors() {
    const PW: &str = "Tr0ub4dor";
    let url = format!("postgres://u:{PW}@h/db?sslmode=nope");
    let config = load_ok(&[], &[("DATABASE_URL", url.as_str())]);
    assert_eq!(config.sslmode, SslMode::Prefer);
    assert_eq!(config.refusals.len(), 1);
    let refusal = &config.refusals[0];
    assert_eq!(refusal.message, "invalid sslmode value: \"nope\"");
    assert_eq!(refusal.origin, "DATABASE_URL");
    assert!(!format!("{config:?}").contains(PW));
    let (value, source, origin) = setting(&config, "sslmode");
    assert_eq!((value.as_str(), source), ("nope", Source::Env));
    assert!(origin.contains("libpq refuses it"), "{origin}");

    let config = load_ok(&["h"], &[("PGCONNECT_TIMEOUT", "1e-9")]);
    assert_eq!(config.connect_timeout, Duration::from_secs(10));
    assert_eq!(
        config.refusals[0].message,
        "invalid integer value \"1e-9\" for connection option \"connect_timeout\""
    );
    // pgreach's own flag is a budget in seconds, decimals allowed.
    assert!(
        load_ok(&["--connect-timeout", "2.5", "h"], &[])
            .refusals
            .is_empty()
    );
}

#[test]
fn libpq_version_decides_keywords_and_system_roots() {
    let direct = ["host=h sslnegotiation=direct sslmode=require"];
    let v18 = load_ok(&direct, &[]);
    assert_eq!(v18.sslnegotiation, SslNegotiation::Direct);
    assert!(v18.direct_tls && v18.refusals.is_empty());
    let v16 = load_ok(&["--libpq", "16", direct[0]], &[]);
    assert_eq!(v16.sslnegotiation, SslNegotiation::Postgres);
    assert_eq!(
        v16.refusals[0].message,
        "invalid connection option \"sslnegotiation\""
    );
    // A variable libpq 16 does not read is ignored, not refused.
    let env = load_ok(&["--libpq", "16", "h"], &[("PGSSLNEGOTIATION", "direct")]);
    assert!(env.refusals.is_empty() && !env.direct_tls);
    assert!(
        setting(&env, "sslnegotiation")
            .2
            .contains("unknown to libpq 16")
    );
    // libpq 15 reads sslrootcert=system as a file name: no verify-full default.
    let v15 = load_ok(&["--libpq", "15", "host=h sslrootcert=system"], &[]);
    assert_eq!(v15.sslmode, SslMode::Prefer);
    let v16 = load_ok(&["--libpq", "16", "host=h sslrootcert=system"], &[]);
    assert_eq!(v16.sslmode, SslMode::VerifyFull);
}

#[test]
fn sslmode_round_trips() {
    for &mode in SslMode::ALL {
        assert_eq!(mode.as_str().parse::<SslMode>(), Ok(mode));
        assert_eq!(mode.to_string(), mode.as_str());
        assert_eq!(
            serde_json::to_string(&mode).unwrap(),
            format!("\"{}\"", mode.as_str())
        );
    }
    let names: Vec<&str> = SslMode::ALL.iter().map(|m| m.as_str()).collect();
    assert_eq!(names.join(", "), SslMode::EXPECTED);
    assert_eq!(
        "VERIFY-FULL".parse::<SslMode>().unwrap_err().to_string(),
        "invalid sslmode \"VERIFY-FULL\": expected one of disable, allow, prefer, require, verify-ca, verify-full"
    );
}

#[test]
fn setting_serializes_with_snake_case_source() {
    let config = load_ok(&["-p", "5433", "h"], &[]);
    let json = serde_json::to_value(config.setting("port").unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"name": "port", "value": "5433", "source": "flag", "origin": "--port"})
    );
}

#[test]
fn input_default_is_what_an_empty_command_line_gives() {
    let typed = format!("{:?}", args(&[]));
    assert_eq!(typed, format!("{:?}", Input::default()));
}

/// libpq 15 and 18 (checked with tests/conformance.rs's judge): an empty value in a connection
/// string replaces the environment variable and means the keyword's default; in a `DB_*`
/// variable or a flag it is "not given".
#[test]
fn an_empty_connection_string_value_keeps_the_environment_out() {
    let vars = [
        ("PGPORT", "5433"),
        ("PGHOST", "envhost"),
        ("PGUSER", "envuser"),
    ];
    let config = load_ok(&["postgres://h?port="], &vars);
    assert_eq!(config.endpoints, vec![name("h", 5432)]);
    let (value, source, origin) = setting(&config, "port");
    assert_eq!((value.as_str(), source), ("5432", Source::Argument));
    assert_eq!(
        origin,
        "uri set port empty, so PGPORT is not used: libpq default"
    );

    let config = load_ok(&["host='' port='' user=''"], &vars);
    assert_eq!(config.endpoints, vec![socket("/var/run/postgresql", 5432)]);
    assert!(
        setting(&config, "host")
            .2
            .starts_with("conninfo set host empty, so PGHOST")
    );
    assert_ne!(config.user, "envuser");

    // `postgres://h:/` stores no port at all (libpq), so PGPORT applies.
    assert_eq!(
        load_ok(&["postgres://h:/"], &vars).endpoints,
        vec![name("h", 5433)]
    );
    // Django's empty DB_PORT means "not set".
    let django = [("PGPORT", "5433"), ("DB_PORT", ""), ("DB_HOST", "h")];
    let config = load_ok(&["--env", "django"], &django);
    assert_eq!(config.endpoints, vec![name("h", 5433)]);

    // libpq refuses an empty sslmode or connect_timeout rather than defaulting: a refusal (a
    // finding), not pgreach's usage error.
    let refusal = |argv: &[&str], vars: Vars| {
        let config = load_ok(argv, vars);
        config
            .refusals
            .first()
            .map(|r| r.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        refusal(&["host=h sslmode="], &[("PGSSLMODE", "disable")]),
        "invalid sslmode value: \"\""
    );
    assert_eq!(
        refusal(&["host=h connect_timeout="], &[]),
        "invalid integer value \"\" for connection option \"connect_timeout\""
    );
}

#[test]
fn sslcrl_and_sslcrldir_are_used_and_reported() {
    let config = load_ok(
        &["host=h sslrootcert=/ca.pem sslcrl=/ca.crl"],
        &[("PGSSLCRLDIR", "/etc/crl.d")],
    );
    assert_eq!(config.sslcrl.as_deref(), Some("/ca.crl"));
    assert_eq!(config.sslcrldir.as_deref(), Some("/etc/crl.d"));
    assert_eq!(
        setting(&config, "sslcrl"),
        s("/ca.crl", Source::Argument, "conninfo")
    );
    assert_eq!(
        setting(&config, "sslcrldir"),
        s("/etc/crl.d", Source::Env, "PGSSLCRLDIR")
    );
    // Empty means unset, as for libpq (then ~/.postgresql/root.crl applies).
    let config = load_ok(&["host=h sslcrl="], &[]);
    assert_eq!(config.sslcrl, None);
}
