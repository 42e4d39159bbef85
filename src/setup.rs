//! What a probe run builds once from a [`Config`] and shares between addresses (and, in a
//! sweep, between targets): trust anchors, the client certificate, the TLS bases, the probe
//! settings, and the shell of the report.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::evidence::Recorder;
use crate::facts::{AddressFacts, ConfigFacts, HostFacts, Report, SCHEMA_VERSION, Summary, millis};
use crate::login::LoginSettings;
use crate::probe::ProbeSettings;
use crate::tls::TlsBase;
use crate::tls::anchors::{self, ClientIdentityFacts, TrustAnchors};

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
    pub fn load(config: &Config, home: Option<&Path>) -> TlsSetup {
        let anchors = Arc::new(anchors::load(config.sslrootcert.as_deref(), home));
        let identity =
            anchors::client_identity(config.sslcert.as_deref(), config.sslkey.as_deref(), home);
        // --keylog / SSLKEYLOGFILE, installed before the probe starts (`evidence::start`).
        let key_log = crate::evidence::keylog::installed();
        let versions = if config.tls_versions {
            vec![
                (
                    "TLSv1.2",
                    TlsBase::with_versions(
                        None,
                        anchors.clone(),
                        &[&rustls::version::TLS12],
                        key_log.clone(),
                    ),
                ),
                (
                    "TLSv1.3",
                    TlsBase::with_versions(
                        None,
                        anchors.clone(),
                        &[&rustls::version::TLS13],
                        key_log.clone(),
                    ),
                ),
            ]
        } else {
            Vec::new()
        };
        TlsSetup {
            base: Arc::new(TlsBase::new(
                identity.certified_key(),
                anchors.clone(),
                key_log,
            )),
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
                sslmode: config.sslmode.as_str(),
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
