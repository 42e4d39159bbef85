//! One probe run's shared work, for every command: what is built once from a [`Config`] and
//! shared between addresses (and, in a sweep or watch, between targets) — trust anchors, the
//! client certificate, the TLS bases, the probe settings — then resolving, probing every
//! address concurrently, and judging the facts.

use std::path::Path;
use std::sync::Arc;

use futures_util::future::join_all;
use tokio::task::JoinSet;

use crate::config::{self, Config, FailOn, HostSpec, SslCertMode};
use crate::diagnose;
use crate::evidence::{Evidence, Recorder};

use crate::facts::{
    AddressFacts, ConfigFacts, HostFacts, HostKind, Report, SCHEMA_VERSION, Severity, Summary,
    millis,
};

use crate::login::LoginSettings;
use crate::probe::{self, AddrTarget, ProbeSettings};
use crate::resolve::{self, Dns};
use crate::tls::TlsBase;
use crate::tls::anchors::{self, ClientIdentityFacts, TrustAnchors};

/// The handshake failure for settings that allow only TLS 1.0/1.1 (`ssl_min_protocol_version=
/// ''`, `ssl_max_protocol_version=TLSv1.1`): libpq 15 and 18 both fail against PostgreSQL's
/// default `ssl_min_protocol_version` with "tlsv1 alert protocol version".
const OLD_TLS_ONLY: &str = "tlsv1 alert protocol version: ssl_min_protocol_version/ssl_max_protocol_version allow only TLS 1.0 or 1.1, which PostgreSQL 13+ refuses by default (and pgreach does not speak)";

/// The trust material for one (sslrootcert, sslcert, sslkey, --tls-versions) combination.
pub struct TlsSetup {
    pub anchors: Arc<TrustAnchors>,
    pub identity: ClientIdentityFacts,
    pub base: Arc<TlsBase>,
    /// One base per TLS version, for `--tls-versions` (empty otherwise).
    pub versions: Arc<Vec<(&'static str, TlsBase)>>,
}

impl TlsSetup {
    /// Loads the files as libpq finds them: the configured paths, else `$HOME/.postgresql`.
    /// `key_log` receives the TLS secrets of every handshake (`--keylog`).
    pub fn load(
        config: &Config,
        home: Option<&Path>,
        key_log: Option<Arc<dyn rustls::KeyLog>>,
    ) -> TlsSetup {
        let crl = anchors::CrlSettings {
            sslcrl: config.sslcrl.as_deref(),
            sslcrldir: config.sslcrldir.as_deref(),
        };
        let anchors = Arc::new(anchors::load(
            config.sslrootcert.as_deref(),
            crl,
            home,
            config.libpq.has_system_roots(),
        ));
        let identity =
            anchors::client_identity(config.sslcert.as_deref(), config.sslkey.as_deref(), home);
        let versions = if config.tls_versions {
            [
                ("TLSv1.2", &rustls::version::TLS12),
                ("TLSv1.3", &rustls::version::TLS13),
            ]
            .into_iter()
            .map(|(name, version)| {
                let base =
                    TlsBase::with_versions(None, anchors.clone(), &[version], key_log.clone());
                (name, base)
            })
            .collect()
        } else {
            Vec::new()
        };
        // libpq 16+ sends no client certificate with sslcertmode=disable, configured or not.
        let certified_key = match config.sslcertmode {
            SslCertMode::Disable => None,
            _ => identity.certified_key(),
        };
        // ssl_min/max_protocol_version limit the handshake. pgreach speaks TLS 1.2 and 1.3; a
        // range that allows neither is not attempted (see OLD_TLS_ONLY).
        let range = config.tls_range;
        let allowed: Vec<&'static rustls::SupportedProtocolVersion> = [
            (range.tls13, &rustls::version::TLS13),
            (range.tls12, &rustls::version::TLS12),
        ]
        .into_iter()
        .filter_map(|(on, version)| on.then_some(version))
        .collect();
        let base = match allowed.is_empty() {
            true => TlsBase::new(certified_key, anchors.clone(), key_log).refusing(OLD_TLS_ONLY),
            false => TlsBase::with_versions(certified_key, anchors.clone(), &allowed, key_log),
        };
        TlsSetup {
            base: Arc::new(base),
            anchors,
            identity: identity.facts,
            versions: Arc::new(versions),
        }
    }

    /// The settings every address of `config` is probed with.
    pub fn probe_settings(
        &self,
        config: &Config,
        recorder: Option<Arc<Recorder>>,
        login: Option<Arc<LoginSettings>>,
    ) -> ProbeSettings {
        ProbeSettings {
            user: config.user.clone(),
            dbname: config.dbname.clone(),
            application_name: config.application_name.clone(),
            sslmode: config.sslmode,
            timeout: config.connect_timeout,
            tls: self.base.clone(),
            sni: config.sslsni,
            // libpq 18 asks for at least the minimum it accepts.
            protocol_minor: (config.max_protocol_version)
                .max(config.min_protocol_version)
                .minor(),
            quiet_server: config.quiet_server,
            direct_tls: config.direct_tls,
            gssenc: config.gssenc,
            tls_versions: self.versions.clone(),
            recorder,
            login,
        }
    }

    /// The report of facts, not yet judged (see `diagnose::apply`).
    pub fn report(
        &self,
        config: &Config,
        hosts: Vec<HostFacts>,
        addresses: Vec<AddressFacts>,
    ) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            pgreach_version: env!("CARGO_PKG_VERSION"),
            config: ConfigFacts {
                settings: config.settings.clone(),
                sslmode: config.sslmode,
                libpq: config.libpq,
                sslnegotiation: config.sslnegotiation,
                refusals: config.refusals.clone(),
                require_auth: config.require_auth.clone(),
                channel_binding: config.channel_binding,
                load_balance_hosts: config.load_balance_hosts,
                sslcertmode: config.sslcertmode,
                min_protocol_version: config.min_protocol_version,
                max_protocol_version: config.max_protocol_version,
                user: config.user.clone(),
                dbname: config.dbname.clone(),
                connect_timeout_ms: millis(config.connect_timeout),
            },
            summary: Summary::pending(addresses.len()),
            hosts,
            addresses,
            trust: self.anchors.facts.clone(),
            client_certificate: self.identity.clone(),
            sslmodes: None,
            findings: Vec::new(),
        }
    }
}

/// Runs every phase for every address of every host and gathers the facts, recording them
/// into `evidence` (`--transcript`, `--pcap`, `--keylog`) when it asks for that.
pub async fn collect(config: &Config, evidence: &Evidence) -> Report {
    let (setup, settings) = prepare(config, evidence);
    collect_with(config, &setup, &settings).await
}

/// What every probe of `config` shares: the trust material and the probe settings (prompting
/// now with `-W`). Built once per run; `watch` reuses them for every probe.
pub fn prepare(config: &Config, evidence: &Evidence) -> (TlsSetup, ProbeSettings) {
    // libpq looks in $HOME/.postgresql (falling back to the passwd entry) for root.crt and
    // postgresql.crt/.key when no file is configured.
    let home = home_dir();
    let setup = TlsSetup::load(config, home.as_deref(), evidence.key_log.clone());
    let login = login_settings(config, home.as_deref());
    let settings = setup.probe_settings(config, evidence.recorder.clone(), login);
    (setup, settings)
}

/// [`collect`] with what [`prepare`] built (DNS is fresh for every call).
pub async fn collect_with(config: &Config, setup: &TlsSetup, settings: &ProbeSettings) -> Report {
    let dns = Dns::from_system(config.connect_timeout);
    let (hosts, targets) = resolve_all(&dns, config).await;
    // Every address concurrently; the report keeps the order of `targets`.
    let mut set = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let settings = settings.clone();
        set.spawn(async move { (i, probe::probe_address(&target, &settings).await) });
    }
    let mut addresses = Vec::new();
    while let Some(joined) = set.join_next().await {
        // A panicking probe task is a bug; the other addresses are still reported.
        if let Ok(pair) = joined {
            addresses.push(pair);
        }
    }
    addresses.sort_by_key(|(i, _)| *i);
    let addresses: Vec<_> = addresses.into_iter().map(|(_, a)| a).collect();

    setup.report(config, hosts, addresses)
}

/// Resolves every host, concurrently so that several slow hosts cost the slowest one's time
/// rather than the sum: the hosts' facts, and every address to probe, in the user's host order
/// and, within a host, libpq's address order.
pub async fn resolve_all(dns: &Dns, config: &Config) -> (Vec<HostFacts>, Vec<AddrTarget>) {
    let resolutions = join_all(config.endpoints.iter().map(|ep| plan(dns, ep))).await;
    let mut hosts = Vec::new();
    let mut targets = Vec::new();
    for (host, addrs) in resolutions {
        hosts.push(host);
        targets.extend(addrs);
    }
    (hosts, targets)
}

/// Resolves one endpoint (when it is a name) into the addresses to probe.
async fn plan(dns: &Dns, ep: &config::Endpoint) -> (HostFacts, Vec<AddrTarget>) {
    let host = ep.host.display();
    let port = ep.port;
    let tcp = |addr, tls_name: Option<String>, verify_host: Option<String>, rank| AddrTarget::Tcp {
        host: host.clone(),
        tls_name,
        verify_host,
        addr: std::net::SocketAddr::new(addr, port),
        system_rank: rank,
    };
    match &ep.host {
        HostSpec::Name(name) => {
            let facts = dns.resolve(name, port).await;
            let targets = resolve::addresses_to_probe(&facts)
                .into_iter()
                .map(|(ip, rank)| tcp(ip, Some(name.clone()), Some(name.clone()), rank))
                .collect();
            let host_facts = HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Name,
                dns: Some(facts),
            };
            (host_facts, targets)
        }
        HostSpec::Ip(ip) => (
            HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Ip,
                dns: None,
            },
            // A literal is the only address libpq tries for this host.
            vec![tcp(*ip, None, Some(host.clone()), Some(0))],
        ),
        HostSpec::ScopedIp { addr, zone } => {
            let scoped = resolve::scoped(*addr, zone, port).await;
            let target = AddrTarget::Tcp {
                host: host.clone(),
                tls_name: None,
                verify_host: Some(host.clone()),
                addr: scoped,
                system_rank: Some(0),
            };
            let facts = HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Ip,
                dns: None,
            };
            (facts, vec![target])
        }
        HostSpec::HostAddr { name, addr } => (
            HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Hostaddr,
                dns: None,
            },
            vec![tcp(*addr, name.clone(), name.clone(), Some(0))],
        ),
        HostSpec::Socket(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            (
                HostFacts {
                    host: host.clone(),
                    port,
                    kind: HostKind::Unix,
                    dns: None,
                },
                vec![AddrTarget::Unix {
                    host: host.clone(),
                    path,
                    port,
                }],
            )
        }
    }
}

/// `--login`'s credentials and policies (prompting now with `-W`); a prompt that fails (no
/// terminal) leaves the run without a password, which each login then reports.
fn login_settings(config: &Config, home: Option<&Path>) -> Option<Arc<LoginSettings>> {
    match LoginSettings::from_config(config, home) {
        Ok(s) => s.map(Arc::new),
        Err(e) => {
            tracing::warn!("cannot read the password from the terminal: {e}");
            let mut config = config.clone();
            config.login.prompt = false;
            LoginSettings::from_config(&config, home)
                .ok()
                .flatten()
                .map(Arc::new)
        }
    }
}

/// libpq's home directory: `$HOME`, else the account's home.
pub fn home_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Some(h.into()),
        _ => nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.dir),
    }
}

/// Judges the facts as of now: findings and verdict (see `diagnose::apply`).
pub fn judge(config: &Config, report: &mut Report) {
    let opts = diagnose::findings::Options {
        sslmode: config.sslmode,
        expiry_warn_days: config.expiry_warn_days.into(),
        now: time::OffsetDateTime::now_utc(),
    };
    diagnose::apply(report, &opts);
}

/// Whether `report` has a finding that fails the run under `--fail-on`.
pub fn fails(report: &Report, fail_on: FailOn) -> bool {
    let threshold = match fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    report.findings.iter().any(|f| f.severity <= threshold)
}
