//! DNS against a real DNS server: Debian's dnsmasq started inside each test's network namespace
//! (its resolv.conf points at it), serving an A-only name, an AAAA-only name, a name with both,
//! a CNAME chain, a name without address records and NXDOMAIN; plus a resolver address whose
//! packets are dropped (timeout). The facts in `hosts[0].dns` are asserted first, then the
//! findings (`dns_nxdomain`, `dns_no_address`, `dns_timeout`) and the exit code.

mod support;

use support::{assert_exit_follows_findings, assert_no_finding, assert_null, at, codes, strings};

use std::time::Duration;

use serde_json::{Value, json};
use support::dns::{A_ONLY, AAAA_ONLY, ALIAS, ALIAS_MIDDLE, BOTH, MISSING, NO_ADDRESS};
use support::{
    Cluster, ClusterSpec, DnsServer, DnsZone, Netns, PgreachRun, blackhole_resolver, run_pgreach,
};

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort();
    v
}

/// The finding with `code`, which must have `severity` and concern `host`.
#[track_caller]
fn expect_finding<'a>(report: &'a Value, code: &str, severity: &str, host: &str) -> &'a Value {
    let f = support::finding(report, code, severity);
    assert_eq!(f["host"], host, "{code}: {f:#}");
    f
}

#[track_caller]
fn assert_no_dns_findings(report: &Value) {
    let dns: Vec<&str> = codes(report)
        .into_iter()
        .filter(|c| c.starts_with("dns_"))
        .collect();
    assert!(dns.is_empty(), "unexpected DNS findings {dns:?}");
}

/// A server on 127.0.0.1 and ::1 that every address reaches authentication on (SCRAM over
/// plaintext), so the DNS answers decide which addresses are probed.
fn scram_cluster(ns: &Netns) -> Cluster {
    Cluster::start(
        ns,
        ClusterSpec::new()
            .listen("127.0.0.1,::1")
            .password_encryption("scram-sha-256")
            .hba(&[
                "host all all 127.0.0.1/32 scram-sha-256",
                "host all all ::1/128 scram-sha-256",
            ])
            .role("app", "app-secret"),
    )
}

fn probe(ns: &Netns, host: &str) -> PgreachRun {
    run_pgreach(
        Some(ns),
        &[
            "--json",
            "--connect-timeout",
            "2",
            host,
            "-U",
            "app",
            "-d",
            "postgres",
        ],
        &[],
    )
}

fn probed_addresses(report: &Value) -> Vec<&str> {
    at(report, "addresses")
        .as_array()
        .expect("addresses[]")
        .iter()
        .map(|a| at(a, "address").as_str().expect("address is text"))
        .collect()
}

#[test]
fn a_only_name_has_no_aaaa_records() {
    let ns = Netns::new();
    let dns = DnsServer::start(&ns, DnsZone::standard());
    let _cluster = scram_cluster(&ns);
    let run = probe(&ns, A_ONLY);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(report["hosts"][0]["kind"], "name");
    assert_eq!(facts["a"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["a"]["addresses"]), ["127.0.0.1"]);
    assert_eq!(facts["a"]["source"], "dns");
    assert_eq!(facts["aaaa"]["outcome"], "no_records", "{facts:#}");
    assert_eq!(facts["aaaa"]["addresses"], json!([]), "an empty list");
    assert_eq!(facts["aaaa"]["source"], "dns");
    assert_eq!(facts["cname_chain"], json!([]), "an empty list");
    assert_eq!(facts["system"]["status"], "ok");
    assert_eq!(strings(&facts["system"]["addresses"]), ["127.0.0.1"]);
    assert!(facts["a"]["elapsed_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(probed_addresses(&report), ["127.0.0.1"]);
    assert_eq!(report["addresses"][0]["reached_auth"], true);
    // The answers came from the DNS server, not from a hosts file.
    assert!(dns.queries_for(A_ONLY) >= 2, "{}", dns.log());
    assert_eq!(run.status, 0, "{run}");

    // A name from the namespace's /etc/hosts is answered from there, for both families.
    let hosts_run = probe(&ns, "v4only.test");
    let report = hosts_run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["source"], "hosts", "{facts:#}");
    assert_eq!(strings(&facts["a"]["addresses"]), ["127.0.0.1"]);
    assert_eq!(facts["aaaa"]["source"], "hosts");
    assert_eq!(facts["aaaa"]["outcome"], "no_records");
    assert_eq!(dns.queries_for("v4only.test"), 0, "{}", dns.log());

    assert_no_dns_findings(&run.json());
}

#[test]
fn aaaa_only_name_has_no_a_records() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let _cluster = scram_cluster(&ns);
    let run = probe(&ns, AAAA_ONLY);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["outcome"], "no_records", "{facts:#}");
    assert_eq!(facts["a"]["addresses"], json!([]), "an empty list");
    assert_eq!(facts["a"]["source"], "dns");
    assert_eq!(facts["aaaa"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["aaaa"]["addresses"]), ["::1"]);
    assert_eq!(facts["aaaa"]["source"], "dns");
    assert_eq!(facts["system"]["status"], "ok");
    assert_eq!(strings(&facts["system"]["addresses"]), ["::1"]);
    assert_eq!(probed_addresses(&report), ["::1"]);
    assert_eq!(report["addresses"][0]["family"], "ipv6");
    assert_eq!(report["addresses"][0]["reached_auth"], true);
    assert_eq!(run.status, 0, "{run}");

    assert_no_dns_findings(&report);
}

#[test]
fn name_with_both_families_is_probed_on_each() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let _cluster = scram_cluster(&ns);
    let run = probe(&ns, BOTH);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["a"]["addresses"]), ["127.0.0.1"]);
    assert_eq!(facts["aaaa"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["aaaa"]["addresses"]), ["::1"]);
    assert_eq!(facts["a"]["source"], "dns");
    assert_eq!(facts["aaaa"]["source"], "dns");
    assert_eq!(facts["cname_chain"], json!([]), "an empty list");
    assert_eq!(facts["system"]["status"], "ok");
    // getaddrinfo's order is the one libpq tries; both families are in it.
    assert_eq!(
        sorted(strings(&facts["system"]["addresses"])),
        ["127.0.0.1", "::1"]
    );
    assert_eq!(sorted(probed_addresses(&report)), ["127.0.0.1", "::1"]);
    for a in report["addresses"].as_array().unwrap() {
        assert_eq!(a["reached_auth"], true, "{a:#}");
        assert!(a["system_rank"].is_u64(), "in getaddrinfo's order: {a:#}");
    }
    assert_eq!(report["summary"]["reached_auth"], 2);
    assert_eq!(run.status, 0, "{run}");

    assert_no_dns_findings(&report);
}

#[test]
fn cname_chain_is_reported() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let _cluster = scram_cluster(&ns);
    let run = probe(&ns, ALIAS);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["a"]["addresses"]), ["127.0.0.1"]);
    assert_eq!(facts["aaaa"]["outcome"], "answers", "{facts:#}");
    assert_eq!(strings(&facts["aaaa"]["addresses"]), ["::1"]);
    let chain: Vec<&str> = strings(&facts["cname_chain"])
        .into_iter()
        .map(|n| n.trim_end_matches('.'))
        .collect();
    assert!(!chain.is_empty(), "CNAME chain reported: {facts:#}");
    assert!(
        chain.contains(&ALIAS_MIDDLE),
        "the chain alias → {ALIAS_MIDDLE} → {BOTH} shows its middle link: {chain:?}"
    );
    assert!(
        chain
            .iter()
            .all(|n| [ALIAS, ALIAS_MIDDLE, BOTH].contains(n)),
        "{chain:?}"
    );
    assert_eq!(
        sorted(strings(&facts["system"]["addresses"])),
        ["127.0.0.1", "::1"]
    );
    assert_eq!(report["hosts"][0]["host"], ALIAS, "the host as typed");
    assert_eq!(run.status, 0, "{run}");

    assert_no_dns_findings(&report);
}

#[test]
fn ip_literals_skip_dns() {
    let ns = Netns::new();
    let dns = DnsServer::start(&ns, DnsZone::standard());
    for (target, ip) in [("127.0.0.1:5999", "127.0.0.1"), ("[::1]:5999", "::1")] {
        let run = run_pgreach(Some(&ns), &["--json", target], &[]);
        let report = run.json();
        assert_eq!(report["hosts"][0]["kind"], "ip", "{target}");
        assert_null(&report, "hosts.0.dns");
        assert_eq!(probed_addresses(&report), [ip]);
        assert_no_dns_findings(&report);
    }
    assert_eq!(
        dns.queries(),
        Vec::<String>::new(),
        "no DNS query for IP literals"
    );
}

#[test]
fn nxdomain_is_reported_as_dns_nxdomain() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let run = probe(&ns, MISSING);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["outcome"], "nxdomain", "{facts:#}");
    assert_eq!(facts["aaaa"]["outcome"], "nxdomain", "{facts:#}");
    assert_eq!(facts["a"]["source"], "dns");
    assert_eq!(facts["a"]["addresses"], json!([]), "an empty list");
    assert_eq!(facts["system"]["status"], "error");
    assert_eq!(facts["system"]["addresses"], json!([]), "an empty list");
    assert_eq!(probed_addresses(&report), Vec::<&str>::new());
    assert_eq!(report["summary"]["verdict"], "error");
    assert_eq!(run.status, 1, "{run}");

    let f = expect_finding(&report, "dns_nxdomain", "error", MISSING);
    assert_eq!(f["addresses"], json!([]), "an empty list");
    assert_no_finding(&report, "dns_no_address");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn name_without_address_records_is_dns_no_address() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let run = probe(&ns, NO_ADDRESS);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    assert_eq!(facts["a"]["outcome"], "no_records", "{facts:#}");
    assert_eq!(facts["aaaa"]["outcome"], "no_records", "{facts:#}");
    assert_eq!(facts["a"]["source"], "dns");
    assert_eq!(facts["system"]["status"], "error");
    assert_eq!(probed_addresses(&report), Vec::<&str>::new());
    assert_eq!(run.status, 1, "{run}");

    expect_finding(&report, "dns_no_address", "error", NO_ADDRESS);
    assert_no_finding(&report, "dns_nxdomain");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn silent_resolver_is_dns_timeout() {
    let ns = Netns::new();
    blackhole_resolver(&ns);
    let run = probe(&ns, BOTH);
    let report = run.json();
    let facts = &report["hosts"][0]["dns"];
    for family in ["a", "aaaa"] {
        assert_eq!(facts[family]["outcome"], "timeout", "{family}: {facts:#}");
        assert_eq!(facts[family]["source"], "dns");
        // Bounded by --connect-timeout 2 (and resolv.conf's timeout:1 for getaddrinfo).
        let ms = facts[family]["elapsed_ms"].as_f64().unwrap();
        assert!((500.0..=6000.0).contains(&ms), "{family}: {ms} ms");
    }
    assert_eq!(facts["system"]["status"], "error");
    assert_eq!(probed_addresses(&report), Vec::<&str>::new());
    assert!(
        run.elapsed < Duration::from_secs(15),
        "bounded: {:?}",
        run.elapsed
    );
    assert_eq!(run.status, 1, "{run}");

    expect_finding(&report, "dns_timeout", "error", BOTH);
    assert_no_finding(&report, "dns_nxdomain");
    assert_exit_follows_findings(&run, &report);
}
