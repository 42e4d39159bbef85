//! The JSON contract, in the style of ripgrep's `--json` tests: the documents pgreach writes
//! (the `--json` report, sweep's JSON Lines, `watch --json`, `--transcript-format json`) are
//! declared again in `json_contract/mirror.rs` with `deny_unknown_fields`, required fields and
//! an enum for every closed set of values, and real documents — from pgreach runs against real
//! PostgreSQL 15 clusters, a DNS server and scripted peers — must deserialize into the mirror
//! and serialize back to the same JSON. A renamed, dropped or added field, or a new value of a
//! closed set, fails here. The README is held to the mirror too: its finding codes, the fields
//! and value sets of its schema, and the sweep summary's fields.

mod support;

// The mirror's fields are there to be matched, not read.
#[allow(dead_code)]
#[path = "json_contract/mirror.rs"]
mod mirror;
#[path = "json_contract/shape.rs"]
mod shape;

use std::collections::BTreeSet;
use std::io::Write as _;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::dns::{ALIAS, MISSING};
use support::{
    Cluster, ClusterSpec, DnsServer, DnsZone, FakeServer, Netns, Step, backend_message, run_pgreach,
};

use mirror::{FindingCode, Report, SweepLine, SweepSummary, Transcript, WatchLine};

// ---- Holding a document to the mirror ------------------------------------------------------

/// `json` as the mirror `T`, or why not: it must deserialize (no unknown field, every value of a
/// closed set known) and serialize back to the same JSON (which also catches a field missing
/// from the document: serde would take a missing `Option` field for null).
fn check<T: DeserializeOwned + Serialize>(json: &Value) -> Result<T, String> {
    // From the pretty text, so that serde's line and column point into what is shown.
    let text = serde_json::to_string_pretty(json).expect("JSON text");
    let mirror: T = serde_json::from_str(&text).map_err(|e| {
        let line = e.line();
        let context: Vec<&str> = text.lines().skip(line.saturating_sub(6)).take(8).collect();
        format!("does not fit the mirror: {e}\n…\n{}\n…", context.join("\n"))
    })?;
    let back = serde_json::to_value(&mirror).expect("mirror to JSON");
    match difference(json, &back, "") {
        None => Ok(mirror),
        Some(d) => Err(d),
    }
}

#[track_caller]
fn conforms<T: DeserializeOwned + Serialize>(what: &str, json: &Value) -> T {
    check(json).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The first place where the document and its round trip through the mirror differ.
fn difference(doc: &Value, mirror: &Value, path: &str) -> Option<String> {
    let at = |k: &str| match path.is_empty() {
        true => k.to_owned(),
        false => format!("{path}.{k}"),
    };
    match (doc, mirror) {
        (Value::Object(d), Value::Object(m)) => {
            if let Some(k) = m.keys().find(|k| !d.contains_key(*k)) {
                return Some(format!("{}: missing from the document", at(k)));
            }
            d.iter().find_map(|(k, v)| difference(v, &m[k], &at(k)))
        }
        (Value::Array(d), Value::Array(m)) if d.len() == m.len() => d
            .iter()
            .zip(m)
            .enumerate()
            .find_map(|(i, (d, m))| difference(d, m, &at(&i.to_string()))),
        (d, m) if d == m => None,
        (d, m) => Some(format!(
            "{path}: the document has {d}, the mirror gives back {m}"
        )),
    }
}

/// Every path of `v` (keys and indices) whose value is not null, indices written `[]`.
fn non_null_paths(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Null => {}
        Value::Object(map) => {
            for (k, child) in map {
                let p = match path.is_empty() {
                    true => k.clone(),
                    false => format!("{path}.{k}"),
                };
                if !child.is_null() {
                    out.insert(p.clone());
                }
                non_null_paths(child, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                non_null_paths(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The JSON name of a value of a closed set.
fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v).expect("enum to JSON") {
        Value::String(s) => s,
        other => panic!("a closed set of strings gave {other}"),
    }
}

// ---- Real documents ------------------------------------------------------------------------

/// The documents of one real run of everything: clusters, a DNS server and scripted peers.
struct Documents {
    /// (what, the `--json` report).
    reports: Vec<(String, Value)>,
    sweep: Vec<Value>,
    watch: Vec<Value>,
    transcript: Value,
}

const PASSWORD: &str = "contract-pw";

/// pgreach `args` (inside `ns` if given) with `PGPASSWORD`; stdout as JSON.
fn report(ns: Option<&Netns>, args: &[&str]) -> Value {
    let mut all = vec!["--json", "--connect-timeout", "3"];
    all.extend_from_slice(args);
    run_pgreach(ns, &all, &[("PGPASSWORD", PASSWORD)]).json()
}

/// stdout as one JSON value per line.
fn json_lines(ns: &Netns, args: &[&str]) -> Vec<Value> {
    let run = run_pgreach(Some(ns), args, &[]);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{run}")))
        .collect()
}

fn documents() -> Documents {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    // TLS 1.3 only, SCRAM, both families; a role pg_hba rejects; trust over the socket for
    // postgres.
    let tls = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .conf("ssl_min_protocol_version = 'TLSv1.3'")
            .listen("127.0.0.1,::1")
            .password_encryption("scram-sha-256")
            .hba(&[
                "host all rejected 127.0.0.1/32 reject",
                "hostssl all all 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
                "hostssl all all ::1/128 scram-sha-256",
            ])
            .role("app", PASSWORD)
            .role("rejected", PASSWORD),
    );
    // ssl off, md5.
    let _plain = Cluster::start(
        &ns,
        ClusterSpec::new()
            .port(5433)
            .listen("127.0.0.1")
            .password_encryption("md5")
            .hba(&["host all all 127.0.0.1/32 md5"])
            .role("app", PASSWORD),
    );
    let ca = tls.ca_path().display().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let transcript_file = dir.path().join("transcript.json");
    let socket_dir = tls.socket_dir().display().to_string();
    let netns = &ns;
    let ns = Some(netns);

    let mut reports = vec![
        (
            "healthy TLS, verify-full, --direct-tls --gssenc --tls-versions",
            report(
                ns,
                &[
                    "localhost",
                    "-U",
                    "app",
                    "-d",
                    "postgres",
                    "--sslmode",
                    "verify-full",
                    "--sslrootcert",
                    &ca,
                    "--direct-tls",
                    "--gssenc",
                    "--tls-versions",
                    "--transcript",
                    transcript_file.to_str().expect("UTF-8 path"),
                    "--transcript-format",
                    "json",
                ],
            ),
        ),
        (
            "--login over TLS",
            report(
                ns,
                &[
                    "--login",
                    "host=127.0.0.1 user=app dbname=postgres sslmode=require",
                ],
            ),
        ),
        (
            "--login with a wrong password",
            report(
                ns,
                &[
                    "--login",
                    "host=127.0.0.1 user=app dbname=postgres sslmode=require password=wrong",
                ],
            ),
        ),
        (
            "a DNS name with a CNAME chain",
            report(ns, &[ALIAS, "-U", "app", "-d", "postgres"]),
        ),
        ("NXDOMAIN", report(ns, &[MISSING, "-U", "app"])),
        (
            "ssl off, md5, sslmode=require",
            report(ns, &["127.0.0.1:5433", "-U", "app", "--sslmode", "require"]),
        ),
        (
            "pg_hba reject",
            report(ns, &["127.0.0.1", "-U", "rejected", "--sslmode", "disable"]),
        ),
        (
            "a refused port, unreadable root file, client certificate without its key",
            report(
                ns,
                &[
                    "127.0.0.1:5999",
                    "--sslrootcert",
                    "/",
                    "--sslcert",
                    &ca,
                    "--sslkey",
                    "/nonexistent/client.key",
                ],
            ),
        ),
        (
            "a Unix socket, trust",
            report(ns, &[&socket_dir, "-U", "postgres", "-d", "postgres"]),
        ),
    ];
    reports.extend(scripted_peers());

    let targets = dir.path().join("targets.txt");
    let mut file = std::fs::File::create(&targets).expect("targets file");
    writeln!(file, "127.0.0.1:5432\n127.0.0.1:5999\nnot:a:target:").expect("write targets");
    let sweep = json_lines(
        netns,
        &[
            "sweep",
            targets.to_str().expect("UTF-8 path"),
            "-U",
            "app",
            "--connect-timeout",
            "3",
            "--expiry-warn",
            "4000000",
        ],
    );
    let watch = json_lines(
        netns,
        &[
            "watch",
            "127.0.0.1:5432",
            "-U",
            "app",
            "--json",
            "--interval",
            "100ms",
            "--count",
            "2",
        ],
    );
    let text = std::fs::read_to_string(&transcript_file).expect("the JSON transcript");
    Documents {
        reports: reports
            .into_iter()
            .map(|(what, r)| (what.to_owned(), r))
            .collect(),
        sweep,
        watch,
        transcript: serde_json::from_str(&text).expect("the transcript is JSON"),
    }
}

/// What no real server does, from scripted peers: a non-PostgreSQL answer, a protocol-2 error
/// for the SSLRequest, a TLS alert, a NegotiateProtocolVersion before the authentication
/// request.
fn scripted_peers() -> Vec<(&'static str, Value)> {
    let one = |script: Vec<Step>, extra: &[&str]| {
        let peer = FakeServer::spawn(script);
        let target = format!("127.0.0.1:{}", peer.port());
        let mut args = vec!["--quiet-server"];
        args.extend_from_slice(extra);
        args.push(&target);
        report(None, &args)
    };
    let mut negotiate = 0u32.to_be_bytes().to_vec(); // newest minor version
    negotiate.extend_from_slice(&1u32.to_be_bytes());
    negotiate.extend_from_slice(b"_pq_.unknown\0");
    let mut after_startup = backend_message(b'v', &negotiate);
    after_startup.extend(backend_message(b'R', b"\x00\x00\x00\x05salt"));
    vec![
        (
            "an HTTP server",
            one(
                vec![
                    Step::Expect(8),
                    Step::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
                    Step::Close,
                ],
                &[],
            ),
        ),
        (
            "a fork failure (protocol 2)",
            one(
                vec![
                    Step::Expect(8),
                    Step::Send(b"Ecould not fork new process for connection: Resource temporarily unavailable\n\0".to_vec()),
                    Step::Close,
                ],
                &[],
            ),
        ),
        (
            "a TLS alert",
            one(
                vec![
                    Step::Expect(8),
                    Step::Send(b"S".to_vec()),
                    Step::Drain(300),
                    Step::Send(b"\x15\x03\x03\x00\x02\x02\x28".to_vec()),
                    Step::Close,
                ],
                &["--sslmode", "require"],
            ),
        ),
        (
            "NegotiateProtocolVersion",
            one(
                vec![
                    Step::Expect(8),
                    Step::Send(b"N".to_vec()),
                    Step::ExpectUntagged,
                    Step::Send(after_startup),
                    Step::Drain(500),
                    Step::Close,
                ],
                &[],
            ),
        ),
    ]
}

#[test]
fn real_documents_fit_the_mirror() {
    let docs = documents();
    let mut covered = BTreeSet::new();
    for (what, json) in &docs.reports {
        let report: Report = conforms(what, json);
        assert_eq!(report.schema_version, 1, "{what}");
        non_null_paths(json, "", &mut covered);
    }

    // Targets (and invalid lines) come as they finish, the summary last.
    let mut kinds: Vec<&str> = docs
        .sweep
        .iter()
        .filter_map(|l| l["type"].as_str())
        .collect();
    assert_eq!(kinds.pop(), Some("summary"), "{:#?}", docs.sweep);
    kinds.sort();
    assert_eq!(kinds, ["invalid", "target", "target"], "{:#?}", docs.sweep);
    for (i, line) in docs.sweep.iter().enumerate() {
        if let SweepLine::Target { data, .. } = conforms(&format!("sweep line {i}"), line) {
            assert_eq!(data.schema_version, 1);
        }
    }
    let summary = docs.sweep.last().expect("a summary line");
    let summary: SweepLine = conforms("sweep summary", summary);
    let SweepLine::Summary { data } = summary else {
        panic!("the last sweep line is the summary");
    };
    assert_eq!(data.expiring_certificates.len(), 1, "{data:?}");

    let kinds: Vec<&str> = docs
        .watch
        .iter()
        .filter_map(|l| l["type"].as_str())
        .collect();
    assert_eq!(kinds, ["change", "latency"], "watch --json lines");
    for (i, line) in docs.watch.iter().enumerate() {
        conforms::<WatchLine>(&format!("watch line {i}"), line);
    }

    let transcript: Transcript = conforms("the JSON transcript", &docs.transcript);
    assert_eq!(transcript.version, 1);

    // What the real runs did not reach (every path still deserializes: a null is a value).
    let uncovered: Vec<String> = shape::of_type::<Report>()
        .paths
        .into_iter()
        .filter(|p| !covered.contains(p))
        .collect();
    eprintln!(
        "report fields never seen non-null in these runs ({}): {uncovered:#?}",
        uncovered.len()
    );
}

/// The mirror is strict: in a real report, every field removed in turn, and an unknown field
/// added to every object in turn, makes the document fail.
#[test]
fn a_dropped_or_added_field_fails() {
    let ns = Netns::new();
    let _cluster = Cluster::start(&ns, ClusterSpec::new().ssl(true).listen("127.0.0.1"));
    let json = report(
        Some(&ns),
        &["127.0.0.1", "-U", "postgres", "--tls-versions"],
    );
    conforms::<Report>("the report", &json);
    let mut objects = 0;
    for path in object_paths(&json, Vec::new()) {
        objects += 1;
        let mut added = json.clone();
        object_at(&mut added, &path).insert("added_field".into(), Value::Null);
        assert!(
            check::<Report>(&added).is_err(),
            "an unknown field in {path:?} passes"
        );
        let keys: Vec<String> = object_at(&mut json.clone(), &path)
            .keys()
            .cloned()
            .collect();
        for key in keys {
            let mut dropped = json.clone();
            object_at(&mut dropped, &path).remove(&key);
            assert!(
                check::<Report>(&dropped).is_err(),
                "{path:?}.{key} dropped passes"
            );
        }
    }
    assert!(
        objects > 20,
        "a report with few objects proves little: {json:#}"
    );
}

/// Where each object in `v` is: a list of keys and indices.
fn object_paths(v: &Value, here: Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    match v {
        Value::Object(map) => {
            out.push(here.clone());
            for (k, child) in map {
                let mut p = here.clone();
                p.push(k.clone());
                out.extend(object_paths(child, p));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let mut p = here.clone();
                p.push(i.to_string());
                out.extend(object_paths(child, p));
            }
        }
        _ => {}
    }
    out
}

fn object_at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut serde_json::Map<String, Value> {
    let mut here = v;
    for step in path {
        here = match here {
            Value::Array(items) => &mut items[step.parse::<usize>().expect("an index")],
            other => &mut other[step.as_str()],
        };
    }
    here.as_object_mut().expect("an object")
}

// ---- The README ----------------------------------------------------------------------------

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The text of the README from `start` (a line or phrase in it) to `end`.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("README: {start:?} not found"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("README: {end:?} not found after {start:?}"));
    &text[from..from + len]
}

/// Every `` `snake_case` `` word in `text` (flags, values with other characters, are not).
fn backticked_words(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// Both ways: what the README has that the mirror lacks, and the reverse.
#[track_caller]
fn assert_same(what: &str, readme: &BTreeSet<String>, mirror: &BTreeSet<String>) {
    let only_readme: Vec<&String> = readme.difference(mirror).collect();
    let only_mirror: Vec<&String> = mirror.difference(readme).collect();
    assert!(
        only_readme.is_empty() && only_mirror.is_empty(),
        "{what}: in the README only: {only_readme:?}; in the mirror only: {only_mirror:?}"
    );
}

#[test]
fn the_readme_documents_every_finding_code() {
    let text = readme();
    let list = section(
        &text,
        "The codes are a public vocabulary, never renamed:",
        "Severity rule",
    );
    let documented = backticked_words(list);
    let mirror: BTreeSet<String> = FindingCode::ALL.iter().map(wire).collect();
    assert_eq!(mirror.len(), FindingCode::ALL.len(), "codes are distinct");
    assert_same("finding codes", &documented, &mirror);
}

#[test]
fn the_readme_schema_documents_the_mirror() {
    let text = readme();
    let json = section(&text, "## JSON output (`--json`)", "## ");
    let block = section(json, "```\n", "```");
    let readme = shape::of_readme_block(block);
    let mirror = shape::of_type::<Report>();
    assert_same("report fields", &readme.paths, &mirror.paths);
    for (path, values) in &readme.values {
        let declared = mirror.values.get(path).unwrap_or_else(|| {
            panic!("{path}: the README lists values {values:?}, the mirror has no closed set there")
        });
        if readme.open.contains(path) {
            let unknown: Vec<&String> = values.difference(declared).collect();
            assert!(
                unknown.is_empty(),
                "{path}: the README lists {unknown:?}, not in {declared:?}"
            );
        } else {
            assert_same(&format!("the values of {path}"), values, declared);
        }
    }
}

#[test]
fn the_readme_lists_the_sweep_summary_fields() {
    let text = readme();
    let paragraph = section(
        &text,
        r#"last, `{"type":"summary","data":{…}}` with"#,
        "`--summary` also prints it",
    );
    // Its own fields; the README does not go into the expiring certificates' fields.
    let mirror: BTreeSet<String> = shape::of_type::<SweepSummary>()
        .paths
        .into_iter()
        .filter(|p| !p.contains(['.', '[']))
        .collect();
    assert_same(
        "sweep summary fields",
        &backticked_words(paragraph),
        &mirror,
    );
}
