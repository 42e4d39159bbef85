//! Conformance with real libpq: every connection string of the corpus goes through libpq 18's
//! `PQconninfoParse` (and libpq 15's) and through pgreach's TARGET parser, which must agree on
//! accept vs reject and on the value of every keyword libpq sets; then the merge with the
//! environment (`port=` vs PGPORT, PGREQUIRESSL, no host at all) against libpq connecting.

#[path = "conformance/corpus.rs"]
mod corpus;
mod support;

use std::collections::BTreeMap;

use pgreach::config::{Input, Source, load_with, target_pairs};
use support::{Cluster, ClusterSpec, Libpq, Netns, Parsed, finding, run_pgreach, setting};

use corpus::{EXCEPTIONS, OWN_CASES, TARGET_ONLY_FORMS, UPSTREAM_URIS, V15_V18_DIFFERENCES};

/// Accepted with these keyword values, or refused.
type Verdict = Result<BTreeMap<String, String>, ()>;

/// What libpq set (options it left unset are dropped).
fn libpq_verdict(parsed: &Parsed) -> Verdict {
    match &parsed.options {
        Ok(options) => Ok(options
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect()),
        Err(_) => Err(()),
    }
}

/// What pgreach's TARGET parser set, a later pair overriding an earlier one as in libpq.
fn pgreach_verdict(input: &str) -> Verdict {
    match target_pairs(input) {
        Ok(pairs) => Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        Err(_) => Err(()),
    }
}

fn corpus() -> impl Iterator<Item = &'static str> {
    UPSTREAM_URIS.iter().chain(OWN_CASES).copied()
}

#[test]
fn pgreach_parses_every_connection_string_like_libpq_18() {
    let mut disagreements = Vec::new();
    for input in corpus() {
        let libpq = Libpq::V18.parse(input);
        assert_eq!(libpq.lib_version / 10000, 18, "the judge is libpq 18");
        let expected = libpq_verdict(&libpq);
        let got = pgreach_verdict(input);
        let excepted = EXCEPTIONS.iter().any(|(case, _)| *case == input);
        if (got == expected) == excepted {
            let detail = match target_pairs(input) {
                Err(e) => format!("pgreach: {e}"),
                Ok(_) => format!("pgreach: {got:?}"),
            };
            disagreements.push(format!(
                "{input:?}{}\n  libpq 18: {:?}\n  {detail}",
                if excepted {
                    " (listed as an exception but they agree)"
                } else {
                    ""
                },
                libpq.options,
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn exceptions_are_in_the_corpus() {
    for (case, _) in EXCEPTIONS {
        assert!(corpus().any(|c| c == *case), "{case:?}");
    }
}

/// pgreach's extra TARGET forms are not connection strings: libpq refuses them, pgreach reads
/// them as a host (and port).
#[test]
fn target_only_forms_are_refused_by_libpq() {
    for (input, what) in TARGET_ONLY_FORMS {
        assert!(
            Libpq::V18.parse(input).options.is_err(),
            "libpq 18 accepts {what} {input:?}"
        );
        let pairs = target_pairs(input).unwrap_or_else(|e| panic!("{what} {input:?}: {e}"));
        assert!(pairs.iter().any(|(k, _)| *k == "host"), "{input:?}");
    }
    // `user:pw@host` without a scheme: refused by both (pgreach says to write a URI).
    assert!(Libpq::V18.parse("u:pw@db:5432").options.is_err());
    let err = target_pairs("u:pw@db:5432").unwrap_err().to_string();
    assert!(err.contains("write a URI") && !err.contains("pw"), "{err}");
}

/// libpq 15 (Debian's) and 18 parse alike except where listed: spaces in URIs, and keywords
/// added since 15.
#[test]
fn libpq_15_and_18_differ_only_where_listed() {
    let mut unexpected = Vec::new();
    for input in corpus() {
        let v15 = Libpq::V15.parse(input);
        let v18 = Libpq::V18.parse(input);
        assert_eq!(v15.lib_version / 10000, 15, "the judge is libpq 15");
        let listed = V15_V18_DIFFERENCES.iter().any(|(case, _)| *case == input);
        if (libpq_verdict(&v15) == libpq_verdict(&v18)) == listed {
            unexpected.push(format!(
                "{input:?} (listed: {listed})\n  15: {:?}\n  18: {:?}",
                v15.options, v18.options
            ));
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}

/// Environment variables for one case.
type Vars<'a> = &'a [(&'a str, &'a str)];

/// pgreach's configuration for `target` with the environment `vars` (no socket exists).
fn load(target: &str, vars: &[(&str, &str)]) -> Result<pgreach::config::Config, String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let input = Input {
        target: Some(target.to_string()),
        ..Input::default()
    };
    load_with(&input, &|k| vars.get(k).cloned(), &|_| false).map_err(|e| e.to_string())
}

/// An empty value in a connection string replaces the environment variable: `port=` means
/// 5432 even with PGPORT set (and `host=` the socket directory, not PGHOST). Checked by
/// connecting with libpq 15 and 18 in a namespace where nothing listens: the error names the
/// port libpq used.
#[test]
fn an_empty_port_keeps_pgport_out_as_in_libpq() {
    let ns = Netns::new();
    let env = [("PGPORT", "5433")];
    let cases = [
        ("host=127.0.0.1 port=", 5432),
        ("postgres://127.0.0.1?port=", 5432),
        // Before the query an empty port is not stored at all: PGPORT applies.
        ("postgres://127.0.0.1:/", 5433),
        ("host=127.0.0.1", 5433),
    ];
    for (target, port) in cases {
        for libpq in [Libpq::V15, Libpq::V18] {
            let c = libpq.connect_with_env(&ns, target, &env);
            let expected = format!("connection to server at \"127.0.0.1\", port {port} failed");
            assert!(
                c.error.contains(&expected),
                "{libpq:?} {target}: {}",
                c.error
            );
        }
        let config = load(target, &env).unwrap();
        assert_eq!(config.endpoints[0].port, port, "{target}");
        let setting = config.setting("port").unwrap();
        if port == 5432 {
            assert_eq!(setting.source, Source::Argument, "{target}");
            assert!(setting.origin.contains("PGPORT is not used"), "{setting:?}");
        }
    }

    // host= (empty) keeps PGHOST out: libpq tries its socket directory.
    for (libpq, dir) in [(Libpq::V15, "/var/run/postgresql"), (Libpq::V18, "/tmp")] {
        let c = libpq.connect_with_env(&ns, "host='' port=5999", &[("PGHOST", "127.0.0.1")]);
        let expected = format!("connection to server on socket \"{dir}/.s.PGSQL.5999\" failed");
        assert!(c.error.contains(&expected), "{libpq:?}: {}", c.error);
    }
    let config = load("host='' port=5999", &[("PGHOST", "127.0.0.1")]).unwrap();
    assert_eq!(
        config.endpoints[0].socket_file(),
        Some("/var/run/postgresql/.s.PGSQL.5999".into())
    );

    // sslmode= (empty) is not "the default" but an error, whatever PGSSLMODE says.
    for libpq in [Libpq::V15, Libpq::V18] {
        let c = libpq.connect_with_env(&ns, "host=127.0.0.1 sslmode=", &[("PGSSLMODE", "disable")]);
        assert!(
            c.error.contains("invalid sslmode value: \"\""),
            "{libpq:?}: {}",
            c.error
        );
    }
    // pgreach probes anyway and reports libpq's refusal in libpq's words.
    let refusal = |target: &str, vars: &[(&str, &str)]| {
        let config = load(target, vars).unwrap();
        config
            .refusals
            .first()
            .map(|r| r.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        refusal("host=127.0.0.1 sslmode=", &[("PGSSLMODE", "disable")]),
        "invalid sslmode value: \"\""
    );

    // connect_timeout= (empty) is an invalid integer to libpq, not "wait forever".
    let expected_timeout = "invalid integer value \"\" for connection option \"connect_timeout\"";
    for libpq in [Libpq::V15, Libpq::V18] {
        let c = libpq.connect_with_env(&ns, "host=127.0.0.1 connect_timeout=", &[]);
        assert!(c.error.contains(expected_timeout), "{libpq:?}: {}", c.error);
    }
    assert_eq!(
        refusal("host=127.0.0.1 connect_timeout=", &[]),
        expected_timeout
    );

    // hostaddr= (empty) is no hostaddr at all: two hosts are tried, by name.
    for libpq in [Libpq::V15, Libpq::V18] {
        let c = libpq.connect_with_env(&ns, "host=a,127.0.0.1 hostaddr=", &[]);
        assert!(
            c.error.contains("could not translate host name \"a\"")
                && c.error.contains("\"127.0.0.1\", port 5432 failed"),
            "{libpq:?}: {}",
            c.error
        );
    }
    let config = load("host=a,127.0.0.1 hostaddr=", &[]).unwrap();
    assert_eq!(config.endpoints.len(), 2);
}

/// The deprecated PGREQUIRESSL (and `requiressl=1`) still mean sslmode=require in libpq 15 and
/// 18, unless PGSSLMODE is set: against a real server without TLS, libpq refuses to go on.
#[test]
fn pgrequiressl_still_means_require() {
    let ns = Netns::new();
    let _cluster = Cluster::start(&ns, ClusterSpec::new().ssl(false).listen("127.0.0.1"));
    let refused = "server does not support SSL, but SSL was required";
    let base = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";
    let cases: [(&str, Vars, bool); 5] = [
        (base, &[("PGREQUIRESSL", "1")], true),
        (base, &[("PGREQUIRESSL", "0")], false),
        (
            base,
            &[("PGREQUIRESSL", "1"), ("PGSSLMODE", "disable")],
            false,
        ),
        (
            &format!("{base} sslmode=prefer"),
            &[("PGREQUIRESSL", "1")],
            false,
        ),
        (&format!("{base} requiressl=1"), &[], true),
    ];
    for (conninfo, env, required) in cases {
        for libpq in [Libpq::V15, Libpq::V18] {
            let c = libpq.connect_with_env(&ns, conninfo, env);
            assert_eq!(
                c.error.contains(refused),
                required,
                "{libpq:?} {conninfo} {env:?}: {}",
                c.error
            );
        }
        let config = load(conninfo, env).unwrap();
        let sslmode = config.setting("sslmode").unwrap();
        assert_eq!(sslmode.value == "require", required, "{conninfo} {env:?}");
    }
}

/// No host anywhere: libpq tries its compiled-in socket directory only, never TCP. pgreach
/// probes the same socket and, when the file is missing, quotes libpq's error and says
/// whether TCP localhost answers on the port (first nothing does, then a server does).
#[test]
fn no_host_means_the_socket_directory_as_in_libpq() {
    let ns = Netns::new();
    let port = "5499";
    let env = [("PGPORT", port)];
    let libpq_error = format!(
        "connection to server on socket \"/var/run/postgresql/.s.PGSQL.{port}\" failed: \
         No such file or directory"
    );
    let c = Libpq::V15.connect_with_env(&ns, "", &env);
    assert!(c.error.contains(&libpq_error), "{}", c.error);
    let c = Libpq::V18.connect_with_env(&ns, "", &env);
    assert!(
        c.error
            .contains(&format!("on socket \"/tmp/.s.PGSQL.{port}\" failed")),
        "{}",
        c.error
    );

    let run = run_pgreach(Some(&ns), &["--json"], &env);
    let report = run.json();
    assert_eq!(run.status, 1, "{run}");
    let host = setting(&report, "host");
    assert_eq!(host["value"], "/var/run/postgresql", "{host:#}");
    assert!(
        strings_of(&host["origin"]).contains("/tmp in upstream builds"),
        "{host:#}"
    );
    let a = &report["addresses"][0];
    assert_eq!(a["family"], "unix", "{a:#}");
    assert_eq!(a["localhost_tcp"]["status"], "refused", "{a:#}");
    let f = finding(&report, "socket_missing", "error");
    let summary = strings_of(&f["summary"]);
    assert!(summary.contains(&libpq_error), "{f:#}");
    assert!(
        summary.contains(&format!("Nothing answers on TCP localhost:{port}")),
        "{f:#}"
    );

    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .port(port.parse().unwrap())
            .listen("127.0.0.1"),
    );
    let report = run_pgreach(Some(&ns), &["--json"], &env).json();
    let a = &report["addresses"][0];
    assert_eq!(a["localhost_tcp"]["status"], "ok", "{a:#}");
    let f = finding(&report, "socket_missing", "error");
    assert!(
        strings_of(&f["summary"]).contains(&format!("does answer on TCP localhost:{port}")),
        "{f:#}"
    );
}

/// A JSON string's text (empty for anything else, so a missing field fails the `contains`).
fn strings_of(v: &serde_json::Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// An IPv6 zone id is kept up to the connect, as libpq keeps it (it hands the host to
/// getaddrinfo): a link-local address on a veth pair inside a namespace, a real server
/// listening on it, libpq 15 and 18 and pgreach all connecting to `fe80::1%v0`.
#[test]
fn a_zone_id_reaches_the_connect() {
    let ns = Netns::new();
    ns.run_ok(&[
        "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    for link in ["v0", "v1"] {
        ns.run_ok(&["ip", "link", "set", link, "up"]);
    }
    // nodad: usable at once, without duplicate address detection's wait.
    ns.run_ok(&["ip", "addr", "add", "fe80::1/64", "dev", "v0", "nodad"]);
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new().listen("*").hba(&[
            "host all all fe80::/10 trust",
            "host all all 127.0.0.1/32 trust",
        ]),
    );
    let conninfo = "host=fe80::1%v0 port=5432 user=postgres dbname=postgres sslmode=disable";
    for libpq in [Libpq::V15, Libpq::V18] {
        let c = libpq.connect(&ns, conninfo);
        assert!(c.ok, "{libpq:?}: {}", c.error);
        // Without the zone the kernel cannot pick the link.
        let c = libpq.connect(&ns, "host=fe80::1 port=5432 user=postgres sslmode=disable");
        assert!(
            c.error.contains("Invalid argument"),
            "{libpq:?}: {}",
            c.error
        );
    }

    for target in [
        "postgres://postgres@[fe80::1%25v0]:5432/postgres?sslmode=disable",
        conninfo,
    ] {
        let run = run_pgreach(Some(&ns), &["--json", target], &[]);
        let report = run.json();
        let host = &report["hosts"][0];
        assert_eq!(host["host"], "fe80::1%v0", "{host:#}");
        assert_eq!(host["kind"], "ip", "{host:#}");
        let a = &report["addresses"][0];
        assert_eq!(a["tcp"]["status"], "ok", "{target}: {a:#}");
        assert_eq!(a["reached_auth"], true, "{target}: {a:#}");
        assert_eq!(run.status, 0, "{target}: {run}");
    }
}
