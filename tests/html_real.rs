//! The HTML report of real misconfigured clusters, opened in a real browser: Debian's
//! `chromium`, headless. Per scenario (IPv4-only with IPv6 refused, hostssl-only, an expired
//! certificate whose subject holds `<script>`, a silent server behind a DROP rule, a hostile
//! fake server whose ErrorResponse holds `<script>`), pgreach writes `--format html --output`,
//! and the test
//! - parses the file with an HTML5 parser (no parse errors; the waterfall's structure),
//! - reads the DOM chromium built (`--dump-dom`): a bar for every phase that ran, the failing
//!   one marked, no `<script>` or other element made from server text, which shows as text,
//! - takes a screenshot at 800 px wide and checks the page is not blank (many colours).
//!
//! `PGREACH_SCREENSHOTS=DIR` also keeps a taller screenshot per scenario as DIR/SCENARIO.png
//! (scripts/screenshots does this for docs/screenshots/).

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use scraper::{ElementRef, Html, Selector};
use support::dns::BOTH;
use support::{
    Cluster, ClusterSpec, DnsServer, DnsZone, FakeServer, Netns, PgreachRun, Step, backend_message,
    run_pgreach, run_with_timeout,
};

/// Debian's package `chromium` (scripts/test and .ci/run install it).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Bound on one chromium run (it starts in about a second; a loaded machine is slower).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// What hostile peers put in their text.
const EVIL: &str = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>";

/// One scenario's page, as written and as chromium saw it.
struct Page {
    run: PgreachRun,
    /// The file as pgreach wrote it.
    source: String,
    file: Html,
    dom: Html,
    dom_text: String,
    _dir: tempfile::TempDir,
}

/// Runs pgreach (inside `ns` if given) with `--format html --output`, then opens the page in
/// chromium twice: once for the DOM, once for a screenshot, which must not be blank.
fn render(name: &str, ns: Option<&Netns>, args: &[&str]) -> Page {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join(format!("{name}.html"));
    let html_arg = html.to_str().expect("utf-8 path");
    let mut all = vec![
        "--format",
        "html",
        "--output",
        html_arg,
        "--connect-timeout",
        "2",
    ];
    all.extend_from_slice(args);
    let run = run_pgreach(ns, &all, &[]);
    assert!(run.stdout.is_empty(), "the page goes to --output\n{run}");
    let page = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}\n{run}"));
    let file = Html::parse_document(&page);
    assert!(
        file.errors.is_empty(),
        "parse errors {:?}\n{page}",
        file.errors
    );

    let dom_text = chromium(dir.path(), &["--dump-dom", &url(&html)]);
    let dom = Html::parse_document(&dom_text);
    let png = dir.path().join(format!("{name}.png"));
    let shot = format!("--screenshot={}", png.display());
    chromium(dir.path(), &[&shot, "--window-size=800,1200", &url(&html)]);
    assert_not_blank(&png);
    keep_screenshot(dir.path(), &html, name, 1700);
    Page {
        run,
        source: page,
        file,
        dom,
        dom_text,
        _dir: dir,
    }
}

/// With `PGREACH_SCREENSHOTS=DIR`: a screenshot for the README as DIR/NAME.png, 800 px wide and
/// `height` tall, enough to show the waterfall below the findings.
fn keep_screenshot(dir: &Path, html: &Path, name: &str, height: u32) {
    let Some(keep) = std::env::var_os("PGREACH_SCREENSHOTS") else {
        return;
    };
    let keep = PathBuf::from(keep).join(format!("{name}.png"));
    let shot = format!("--screenshot={}", keep.display());
    chromium(
        dir,
        &[&shot, &format!("--window-size=800,{height}"), &url(html)],
    );
    assert_not_blank(&keep);
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// Runs headless chromium with `args` (as root it needs --no-sandbox; a profile of its own in
/// `dir` so runs never share state); returns stdout.
fn chromium(dir: &Path, args: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium"
    );
    let profile = format!("--user-data-dir={}", dir.join("profile").display());
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        &profile,
    ])
    .args(args)
    .env("HOME", dir);
    let out = run_with_timeout(&mut cmd, BROWSER_TIMEOUT).expect("start chromium");
    assert!(out.success(), "chromium failed\n{}", out.describe());
    out.stdout_str()
}

/// The screenshot is 800 px wide and shows a page, not one colour.
fn assert_not_blank(png: &Path) {
    let file = std::fs::File::open(png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.width, 800, "window width");
    let pixel = info.color_type.samples() * usize::from(info.bit_depth as u8).div_ceil(8);
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()].chunks(pixel).collect();
    assert!(
        colours.len() >= 32,
        "{} colour(s): a blank page?",
        colours.len()
    );
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let sel = Selector::parse(css).expect("a valid selector");
    doc.select(&sel).collect()
}

/// (phase, outcome, failed) of each bar of the waterfall row for `address`.
fn bars(doc: &Html, address: &str) -> Vec<(String, String, bool)> {
    let row = select(doc, "svg.waterfall g.row")
        .into_iter()
        .find(|g| g.value().attr("data-address") == Some(address))
        .unwrap_or_else(|| panic!("no waterfall row for {address}"));
    let rect = Selector::parse("rect").expect("selector");
    row.select(&rect)
        .map(|r| {
            let a = |n| {
                r.value()
                    .attr(n)
                    .unwrap_or_else(|| panic!("no {n}"))
                    .to_owned()
            };
            (
                a("data-phase"),
                a("data-outcome"),
                a("data-failed") == "true",
            )
        })
        .collect()
}

fn rows(doc: &Html) -> Vec<String> {
    select(doc, "svg.waterfall g.row")
        .iter()
        .map(|g| g.value().attr("data-address").unwrap_or("").to_owned())
        .collect()
}

fn phases(bars: &[(String, String, bool)]) -> Vec<&str> {
    bars.iter().map(|(p, _, _)| p.as_str()).collect()
}

/// Both documents agree, and nothing the server sent became an element.
fn assert_same_waterfall_and_inert(p: &Page) {
    assert_eq!(rows(&p.file), rows(&p.dom), "chromium's DOM has other rows");
    for addr in rows(&p.file) {
        assert_eq!(bars(&p.file, &addr), bars(&p.dom, &addr), "{addr}");
    }
    for tag in ["script", "img", "iframe", "link"] {
        assert!(select(&p.dom, tag).is_empty(), "<{tag}> in chromium's DOM");
    }
    let title = select(&p.dom, "title");
    let title: String = title
        .first()
        .map(|t| t.text().collect())
        .unwrap_or_default();
    assert!(!title.contains("pwned"), "a script ran: {title}");
}

/// The failed bars of a row, as (phase, outcome).
fn failed(bars: &[(String, String, bool)]) -> Vec<(&str, &str)> {
    bars.iter()
        .filter(|(_, _, f)| *f)
        .map(|(p, o, _)| (p.as_str(), o.as_str()))
        .collect()
}

#[test]
fn ipv4_only_server_with_ipv6_refused() {
    let ns = Netns::new();
    let _dns = DnsServer::start(&ns, DnsZone::standard());
    let c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let target = format!("{BOTH}:{}", c.port());
    let p = render("ipv6-refused", Some(&ns), &[&target, "-U", "app"]);
    assert_same_waterfall_and_inert(&p);
    let port = c.port();
    let (v6, v4) = (format!("[::1]:{port}"), format!("127.0.0.1:{port}"));
    let mut want = vec![v6.clone(), v4.clone()];
    want.sort();
    let mut got = rows(&p.dom);
    got.sort();
    assert_eq!(got, want);

    let six = bars(&p.dom, &v6);
    assert_eq!(phases(&six), ["dns_a", "dns_aaaa", "tcp"], "{six:?}");
    assert_eq!(failed(&six), [("tcp", "refused")]);
    let four = bars(&p.dom, &v4);
    assert_eq!(
        phases(&four),
        ["dns_a", "dns_aaaa", "tcp", "ssl_request", "startup"],
        "ssl=off: N, no TLS, and no other channel after N: {four:?}"
    );
    assert!(failed(&four).is_empty(), "{four:?}");
    assert!(four.contains(&("startup".into(), "auth_request".into(), false)));
    assert!(
        p.dom_text.contains("address_refused"),
        "the finding is shown"
    );
    assert_eq!(p.run.status, 1, "{}", p.run);
}

#[test]
fn hostssl_only_with_sslmode_disable() {
    let ns = Netns::new();
    let c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let target = format!("127.0.0.1:{}", c.port());
    let p = render(
        "hostssl-only",
        Some(&ns),
        &[&target, "-U", "app", "--sslmode", "disable"],
    );
    assert_same_waterfall_and_inert(&p);
    let b = bars(&p.dom, &target);
    // With disable the startup goes over plaintext; the SSLRequest and TLS bars are the
    // other channel's connection, whose startup pg_hba accepts.
    assert_eq!(
        phases(&b),
        ["tcp", "ssl_request", "tls", "startup", "startup_other"],
        "{b:?}"
    );
    assert_eq!(
        failed(&b),
        [("startup", "error")],
        "plaintext meets hostssl"
    );
    assert_eq!(b[4], ("startup_other".into(), "auth_request".into(), false));
    assert!(p.dom_text.contains("ssl_required_by_hba"));
    let configured = select(&p.dom, "table.sslmodes tr.configured");
    assert_eq!(configured.len(), 1);
    assert_eq!(configured[0].value().attr("data-sslmode"), Some("disable"));
}

/// A root and a leaf for 127.0.0.1 that expired in 2021, its subject holding [`EVIL`].
fn expired_hostile_leaf() -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pgreach html test root");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_pem = ca.self_signed(&ca_key).expect("self-sign").pem();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("leaf params");
    leaf.distinguished_name.push(DnType::CommonName, EVIL);
    leaf.distinguished_name
        .push(DnType::OrganizationName, "</td></tr></table><b>x</b>");
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf.signed_by(&key, &issuer).expect("sign leaf");
    (ca_pem, cert.pem(), key.serialize_pem())
}

#[test]
fn expired_certificate_with_a_script_in_its_subject() {
    let (ca, leaf, key) = expired_hostile_leaf();
    let ns = Netns::new();
    let c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .server_cert_pem(&leaf, &key),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.crt");
    std::fs::write(&root, ca).expect("write root");
    let target = format!("127.0.0.1:{}", c.port());
    let root_arg = root.to_str().expect("utf-8");
    let args = [
        target.as_str(),
        "-U",
        "postgres",
        "--sslmode",
        "verify-full",
        "--sslrootcert",
        root_arg,
    ];
    let p = render("expired-certificate", Some(&ns), &args);
    assert_same_waterfall_and_inert(&p);
    let b = bars(&p.dom, &target);
    assert_eq!(
        phases(&b),
        ["tcp", "ssl_request", "tls", "startup", "startup_other"]
    );
    assert_eq!(failed(&b), [("tls", "cert_expired")], "{b:?}");
    assert!(
        select(&p.dom, "b").is_empty(),
        "the subject's markup became elements"
    );
    let chain: String = select(&p.dom, "table.chain")
        .iter()
        .flat_map(|t| t.text())
        .collect();
    assert!(chain.contains(EVIL), "the subject shows as text: {chain}");
    assert!(p.dom_text.contains("cert_expired"));
}

#[test]
fn silent_server_times_out() {
    let ns = Netns::new();
    let c = Cluster::start(&ns, ClusterSpec::new().listen("127.0.0.1"));
    ns.drop_tcp_port(c.port());
    let target = format!("127.0.0.1:{}", c.port());
    let p = render("silent-server", Some(&ns), &[&target, "--quiet-server"]);
    assert_same_waterfall_and_inert(&p);
    let b = bars(&p.dom, &target);
    assert_eq!(b, [("tcp".into(), "timeout".into(), true)]);
    assert!(p.dom_text.contains("address_timeout"));
}

#[test]
fn hostile_error_response_shows_as_text() {
    let mut body = b"SFATAL\0C28000\0M".to_vec();
    body.extend_from_slice(EVIL.as_bytes());
    body.extend_from_slice(b"\0\0");
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"N".to_vec()),
        Step::ExpectUntagged,
        Step::Send(backend_message(b'E', &body)),
        Step::Close,
    ]);
    // A password in the target: redacted as in the other formats.
    let target = format!("postgres://app:hunter2@127.0.0.1:{}/app", server.port());
    let p = render("hostile-server", None, &[&target, "--quiet-server"]);
    assert!(!p.source.contains("hunter2"), "the password leaked");
    assert!(
        p.source.contains("***"),
        "the password setting shows as ***"
    );
    let target = format!("127.0.0.1:{}", server.port());
    assert_same_waterfall_and_inert(&p);
    let b = bars(&p.dom, &target);
    assert_eq!(failed(&b), [("startup", "error")], "{b:?}");
    let findings: String = select(&p.dom, "section.finding")
        .iter()
        .flat_map(|s| s.text())
        .collect();
    assert!(findings.contains(EVIL), "{findings}");
}

#[test]
fn watch_writes_latency_over_time_with_the_outcome_change_marked() {
    let ns = Netns::new();
    let c = Cluster::start(&ns, ClusterSpec::new().listen("127.0.0.1"));
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("watch.html");
    let html_arg = html.to_str().expect("utf-8 path");
    let target = format!("127.0.0.1:{}", c.port());
    // The server stops answering after the third probe: the outcome changes once.
    let mut cmd = support::pgreach_command(
        Some(&ns),
        &[
            "watch",
            &target,
            "-U",
            "postgres",
            "--quiet-server",
            "--connect-timeout",
            "1",
            "--interval",
            "1200ms",
            "--count",
            "6",
            "--html",
            html_arg,
        ],
        &[],
    );
    let child = cmd
        .0
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("pgreach watch");
    std::thread::sleep(Duration::from_millis(3000));
    ns.drop_tcp_port(c.port());
    let out = child
        .wait_with_output()
        .expect("pgreach watch ends after --count");
    assert_eq!(out.status.code(), Some(1), "the later probes fail");
    let page = std::fs::read_to_string(&html).expect("the page");
    let file = Html::parse_document(&page);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let dom = Html::parse_document(&chromium(dir.path(), &["--dump-dom", &url(&html)]));
    let lines: Vec<&str> = select(&dom, "svg.latency polyline")
        .iter()
        .filter_map(|l| l.value().attr("data-phase"))
        .collect();
    assert!(
        lines.contains(&"tcp") && lines.contains(&"total"),
        "{lines:?}"
    );
    assert_eq!(select(&dom, "svg.latency line.change").len(), 1, "{page}");
    assert!(!select(&dom, "table.percentiles tr[data-phase=tcp]").is_empty());
    let png = dir.path().join("watch.png");
    let shot = format!("--screenshot={}", png.display());
    chromium(dir.path(), &[&shot, "--window-size=800,1200", &url(&html)]);
    assert_not_blank(&png);
    keep_screenshot(dir.path(), &html, "watch", 1000);
}

/// The page draws one probe: sweep refuses `--format html` and `--output`; watch points to
/// `--html`; an unwritable `--output` fails before probing.
#[test]
fn html_and_output_are_refused_where_they_do_not_fit() {
    let cases: &[(&[&str], &str)] = &[
        (&["sweep", "-", "--format", "html"], "--format html"),
        (&["sweep", "-", "--output", "x.html"], "--output"),
        (&["watch", "127.0.0.1", "--format", "html"], "--html FILE"),
        (&["watch", "127.0.0.1", "--output", "x.html"], "--html FILE"),
        (
            &[
                "127.0.0.1:1",
                "--format",
                "html",
                "--output",
                "/nonexistent/x.html",
            ],
            "/nonexistent/x.html",
        ),
    ];
    for (args, needle) in cases {
        let run = run_pgreach(None, args, &[]);
        assert_eq!(run.status, 2, "{args:?}\n{run}");
        assert!(run.stdout.is_empty(), "{args:?}\n{run}");
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}
