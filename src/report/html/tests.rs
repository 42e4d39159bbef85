//! The HTML report parsed back with an HTML5 parser (scraper, on html5ever): no parse errors,
//! the waterfall's structure, hostile server text shown as text, nothing loaded from elsewhere.

use std::collections::BTreeMap;

use scraper::{Html, Selector};

use super::*;
use crate::diagnose::testkit::*;
use crate::facts::{LookupOutcome, StartupStatus, TcpStatus};

fn render(r: &Report) -> String {
    let mut buf = Vec::new();
    write(&mut buf, r).expect("writing to a Vec");
    String::from_utf8(buf).expect("utf-8")
}

/// Parses `page`, failing on any parse error.
#[track_caller]
fn parse(page: &str) -> Html {
    let doc = Html::parse_document(page);
    assert!(
        doc.errors.is_empty(),
        "parse errors {:?}\n{page}",
        doc.errors
    );
    doc
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    let sel = Selector::parse(css).expect("a valid selector");
    doc.select(&sel).collect()
}

fn attr<'a>(e: &scraper::ElementRef<'a>, name: &str) -> &'a str {
    e.value()
        .attr(name)
        .unwrap_or_else(|| panic!("no {name} on {:?}", e.value()))
}

#[test]
fn dual_stack_page_is_valid_and_has_a_row_per_address_in_libpq_order() {
    let mut r = dual_stack_hostssl();
    r.hosts[0].dns = Some(dns(
        LookupOutcome::Answers,
        LookupOutcome::Answers,
        Ok(vec!["2001:db8::5", "10.0.0.5"]),
    ));
    let doc = parse(&render(&r));
    let rows = select(&doc, "svg.waterfall g.row");
    let order: Vec<&str> = rows.iter().map(|g| attr(g, "data-address")).collect();
    assert_eq!(order, ["[2001:db8::5]:5432", "10.0.0.5:5432"]);

    let phases = |g: &scraper::ElementRef| -> Vec<(String, String, String)> {
        let rect = Selector::parse("rect").expect("selector");
        g.select(&rect)
            .map(|e| {
                (
                    attr(&e, "data-phase").to_owned(),
                    attr(&e, "data-outcome").to_owned(),
                    attr(&e, "data-failed").to_owned(),
                )
            })
            .collect()
    };
    let v6 = phases(&rows[0]);
    assert_eq!(
        v6,
        [
            ("dns_a".into(), "answers".into(), "false".into()),
            ("dns_aaaa".into(), "answers".into(), "false".into()),
            ("tcp".into(), "refused".into(), "true".into()),
        ]
    );
    let v4: Vec<(String, String)> = phases(&rows[1])
        .into_iter()
        .map(|(p, o, _)| (p, o))
        .collect();
    assert_eq!(
        v4.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [
            "dns_a",
            "dns_aaaa",
            "tcp",
            "ssl_request",
            "tls",
            "startup",
            "startup_other"
        ]
    );
    assert_eq!(v4[6].1, "error", "the plaintext startup met pg_hba");
}

#[test]
fn sections_follow_the_text_reports_order() {
    let page = render(&dual_stack_hostssl());
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    let order = [
        "class=\"verdict",
        "id=\"findings\"",
        "id=\"waterfall\"",
        "id=\"sslmodes\"",
        "id=\"certificates\"",
        "id=\"settings\"",
    ];
    let positions: Vec<usize> = order.iter().map(|n| at(n)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(page.contains("What libpq 18 does under each sslmode"));
}

#[test]
fn hostile_server_text_is_shown_as_text_never_markup() {
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\u{0}\u{1b}";
    let a = tcp("db.example.com", "10.0.0.5")
        .tls_ok()
        .leaf(|c| c.subject = format!("CN={evil}"))
        .tls_startup(refused("28000", evil))
        .build();
    let mut r = report("require", vec![a]);
    r.config.user = evil.into();
    crate::diagnose::apply(
        &mut r,
        &crate::diagnose::findings::Options {
            sslmode: crate::config::SslMode::Require,
            expiry_warn_days: 30,
            now: now(),
        },
    );
    let page = render(&r);
    let doc = parse(&page);
    assert!(select(&doc, "script").is_empty(), "{page}");
    assert!(select(&doc, "img").is_empty(), "{page}");
    let text: String = doc.root_element().text().collect();
    assert!(text.contains("CN=<script>alert(1)</script>"), "{text}");
    assert!(text.contains("28000: <script>alert(1)</script>"), "{text}");
}

#[test]
fn nothing_is_loaded_from_elsewhere() {
    let doc = parse(&render(&dual_stack_hostssl()));
    for tag in ["script", "link", "img", "iframe", "object", "embed"] {
        assert!(select(&doc, tag).is_empty(), "<{tag}> in the page");
    }
    for e in select(&doc, "*") {
        for (name, value) in e.value().attrs() {
            assert!(
                !matches!(name, "src" | "href") && !value.contains("url("),
                "{name}={value:?} on {:?}",
                e.value()
            );
        }
    }
}

#[test]
fn skipped_phases_draw_no_bar_and_a_timeout_is_marked_failed() {
    let a = tcp("10.0.0.5", "10.0.0.5")
        .tcp_failed(TcpStatus::Timeout, "timed out")
        .build();
    let b = tcp("10.0.0.6", "10.0.0.6")
        .plaintext_first()
        .plain_startup(broken(StartupStatus::Eof, "closed"))
        .build();
    let doc = parse(&render(&report("disable", vec![a, b])));
    let rects = select(&doc, "svg.waterfall rect");
    let seen: Vec<(&str, &str, &str)> = rects
        .iter()
        .map(|e| {
            (
                attr(e, "data-phase"),
                attr(e, "data-outcome"),
                attr(e, "data-failed"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("tcp", "timeout", "true"),
            ("tcp", "ok", "false"),
            ("startup", "eof", "true")
        ]
    );
}

#[test]
fn watch_page_is_valid_with_a_line_per_phase_and_marked_changes() {
    use crate::report::watch::{Outcome, Stats};
    let outcome = |verdict| Outcome {
        verdict,
        findings: Vec::new(),
        addresses: vec!["127.0.0.1:5432 tcp=ok ssl=S startup=auth_request <b>".into()],
    };
    let samples = (1..=5)
        .map(|probe| watch::Sample {
            probe,
            phases: [("tcp", 0.2 * probe as f64), ("total", 3.0 + probe as f64)]
                .into_iter()
                .collect(),
        })
        .collect();
    let mut stats = BTreeMap::new();
    stats.insert(
        "tcp",
        Stats {
            n: 5,
            p50_ms: 0.6,
            p90_ms: 1.0,
            p99_ms: 1.0,
            max_ms: 1.0,
        },
    );
    let history = watch::History {
        target: "db.example.com".into(),
        samples,
        changes: vec![
            watch::Change {
                probe: 1,
                time: "2026-01-15T00:00:00Z".into(),
                outcome: outcome(crate::facts::Verdict::Ok),
            },
            watch::Change {
                probe: 4,
                time: "2026-01-15T00:00:20Z".into(),
                outcome: outcome(crate::facts::Verdict::Error),
            },
        ],
        stats: &stats,
    };
    let mut buf = Vec::new();
    watch::write(&mut buf, &history).expect("writing to a Vec");
    let page = String::from_utf8(buf).expect("utf-8");
    let doc = parse(&page);
    let lines: Vec<&str> = select(&doc, "svg.latency polyline")
        .iter()
        .map(|e| attr(e, "data-phase"))
        .collect();
    assert_eq!(lines, ["tcp", "total"]);
    let marks: Vec<&str> = select(&doc, "svg.latency line.change")
        .iter()
        .map(|e| attr(e, "data-probe"))
        .collect();
    assert_eq!(marks, ["4"]);
    assert_eq!(select(&doc, "table.percentiles tr[data-phase]").len(), 1);
    assert!(select(&doc, "b").is_empty());
}
