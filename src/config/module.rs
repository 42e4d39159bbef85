//! A module: a named set of settings laid over a target (`pgreach exporter`'s modules). Each
//! setting is checked on its own when the configuration file is read, so a bad one is named
//! there; a scraped target then becomes a `Config` with the module's settings above it.
//!
//! The module overrides the target, not the other way round: the target arrives in a URL from
//! whoever can reach the exporter, while the module is the operator's policy. A scrape must not
//! be able to weaken the sslmode the verdict is judged under, nor name files on the exporter's
//! machine (`sslrootcert`, `sslkey` …) or carry credentials; those a target may not set at all.

use super::build;
use super::keywords::{self, KEYWORDS};
use super::layers::Layers;
use super::pairs::Pairs;
use super::target;
use super::{Config, ConfigError, Input, Source};
use crate::vocabulary::vocabulary;

vocabulary! {
    /// pgreach's probe options a module may set besides libpq's keywords.
    pub enum ProbeOption {
        QuietServer = "quiet_server",
        ExpiryWarn = "expiry_warn",
        DirectTls = "direct_tls",
        Gssenc = "gssenc",
        TlsVersions = "tls_versions",
    }
}

/// Where to connect is the target's to say, never a module's.
const TARGET_ONLY: &[&str] = &["host", "hostaddr", "port"];

/// Keywords that name files on the exporter's machine, or a service file entry: only the
/// operator (the module, the environment) may set them.
const MODULE_ONLY: &[&str] = &[
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslcrldir",
    "sslkeylogfile",
    "passfile",
    "service",
];

/// The settings of one module, each checked as it was set.
#[derive(Clone)]
pub struct Module {
    name: String,
    pairs: Pairs,
    options: Input,
}

/// Whether `key` is something a module sets (a libpq keyword or a probe option): such a key in
/// a scrape's URL is refused rather than ignored.
pub fn is_module_key(key: &str) -> bool {
    keywords::lookup(key).is_some() || ProbeOption::from_word(key).is_some()
}

impl Module {
    pub fn new(name: &str) -> Module {
        Module {
            name: name.to_owned(),
            pairs: Pairs::new(),
            options: Input::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn origin(&self) -> String {
        format!("module {}", self.name)
    }

    /// Sets `key` (a libpq keyword or a probe option) to `value`, checking the value the way a
    /// configuration built from it alone would.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if let Some(option) = ProbeOption::from_word(key) {
            return self.set_option(option, value);
        }
        let Some(keyword) = keywords::lookup(key) else {
            return Err(ConfigError::new(format!(
                "unknown key \"{key}\": expected a libpq connection keyword or one of {}",
                ProbeOption::ALL
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if TARGET_ONLY.contains(&keyword.name) {
            return Err(ConfigError::new(format!(
                "{key} cannot be set in a module: where to connect comes from the target"
            )));
        }
        let mut alone = Layers::default();
        alone.set("host", "localhost", Source::Default, "check");
        alone.set(keyword.name, value, Source::Flag, &self.origin());
        let config = build::build(&alone, &self.options, &|_: &str| None, &|_| false)?;
        // A value libpq would refuse is the operator's mistake: refused at load, in libpq's
        // words, rather than probed and reported on every scrape.
        if let Some(refusal) = config.refusals.first() {
            return Err(ConfigError::new(format!(
                "{key} (from {}): {}",
                self.origin(),
                refusal.message
            )));
        }
        self.pairs.retain(|(k, _)| *k != keyword.name);
        self.pairs.push((keyword.name, value.to_owned()));
        Ok(())
    }

    fn set_option(&mut self, option: ProbeOption, value: &str) -> Result<(), ConfigError> {
        let origin = self.origin();
        let bad = |expected: &str| {
            ConfigError::new(format!(
                "invalid {option} \"{value}\" (from {origin}): expected {expected}"
            ))
        };
        let flag = || match value {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(bad("true or false")),
        };
        let o = &mut self.options;
        match option {
            ProbeOption::QuietServer => o.quiet_server = flag()?,
            ProbeOption::DirectTls => o.direct_tls = flag()?,
            ProbeOption::Gssenc => o.gssenc = flag()?,
            ProbeOption::TlsVersions => o.tls_versions = flag()?,
            ProbeOption::ExpiryWarn => {
                o.expiry_warn = value.trim().parse().map_err(|_| bad("a number of days"))?
            }
        }
        Ok(())
    }

    /// The configuration the module gives on its own (host `localhost`), for what is built once
    /// per module (the TLS setup); pins the module's effective sslmode — its own, the
    /// environment's or libpq's default — so that no target can choose another.
    pub fn settle(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let config = self.config_for("localhost", env)?;
        if !self.pairs.iter().any(|(k, _)| *k == "sslmode") {
            self.pairs
                .push(("sslmode", config.sslmode.as_str().to_owned()));
        }
        Ok(config)
    }

    /// `target` (host:port, URI or conninfo, as a single probe takes it) with the module's
    /// settings above it and the environment's libpq variables below.
    pub fn config_for(
        &self,
        target: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let parsed = target::parse_target(target, Some("target"))?;
        if let Some((key, _)) = parsed
            .pairs
            .iter()
            .find(|(k, _)| keywords::is_secret(k) || MODULE_ONLY.contains(k))
        {
            let why = if keywords::is_secret(key) {
                "credentials come only from the exporter's configuration file or environment"
            } else {
                "files on the exporter's machine are named only in its configuration file"
            };
            return Err(ConfigError::new(format!(
                "the target may not set {key}: {why}"
            )));
        }
        let mut layers = Layers::default();
        super::env::apply_libpq_vars(&mut layers, env);
        layers.apply(parsed.pairs, Source::Argument, parsed.origin);
        // Above the target: see the file's comment.
        layers.apply(self.pairs.clone(), Source::Flag, &self.origin());
        // A probe run by a scrape never looks for a local socket: the default host is
        // `localhost`, which the allow list then judges like any other name.
        build::build(&layers, &self.options, env, &|_| false)
    }

    /// The libpq keywords this module sets, for the exporter's index page; secrets as `***`.
    pub fn shown_settings(&self) -> Vec<(&'static str, String)> {
        let mut shown: Vec<_> = KEYWORDS
            .iter()
            .filter_map(|k| {
                let (_, v) = self.pairs.iter().find(|(name, _)| *name == k.name)?;
                Some((k.name, if k.secret { "***".into() } else { v.clone() }))
            })
            .collect();
        let o = &self.options;
        for (option, on) in [
            (ProbeOption::QuietServer, o.quiet_server),
            (ProbeOption::DirectTls, o.direct_tls),
            (ProbeOption::Gssenc, o.gssenc),
            (ProbeOption::TlsVersions, o.tls_versions),
        ] {
            if on {
                shown.push((option.as_str(), "true".into()));
            }
        }
        shown.push((ProbeOption::ExpiryWarn.as_str(), o.expiry_warn.to_string()));
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostSpec, SslMode};

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn module(pairs: &[(&str, &str)]) -> Module {
        let mut m = Module::new("verify");
        for (k, v) in pairs {
            m.set(k, v).unwrap();
        }
        m.settle(&no_env).unwrap();
        m
    }

    #[test]
    fn module_settings_win_over_the_target() {
        let m = module(&[("sslmode", "verify-full"), ("user", "monitor")]);
        let c = m
            .config_for("postgres://app@db.internal:6432/x?sslmode=disable", &no_env)
            .unwrap();
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.user, "monitor");
        assert_eq!(c.dbname, "x");
        assert_eq!(c.endpoints[0].host, HostSpec::Name("db.internal".into()));
        assert_eq!(c.endpoints[0].port, 6432);
    }

    #[test]
    fn the_default_sslmode_is_pinned_too() {
        let m = module(&[]);
        let c = m.config_for("host=h sslmode=disable", &no_env).unwrap();
        assert_eq!(c.sslmode, SslMode::Prefer);
    }

    #[test]
    fn bad_keys_and_values_are_refused_one_by_one() {
        let mut m = Module::new("m");
        let err = |r: Result<(), ConfigError>| r.unwrap_err().to_string();
        assert!(err(m.set("sslmod", "x")).contains("unknown key \"sslmod\""));
        assert!(err(m.set("sslmode", "verify_full")).contains("invalid sslmode"));
        assert!(err(m.set("connect_timeout", "soon")).contains("connect_timeout"));
        assert!(err(m.set("host", "h")).contains("comes from the target"));
        assert!(err(m.set("quiet_server", "perhaps")).contains("true or false"));
        assert!(err(m.set("expiry_warn", "-1")).contains("days"));
        m.set("quiet_server", "1").unwrap();
        m.set("expiry_warn", "14").unwrap();
    }

    #[test]
    fn targets_carry_no_credentials_nor_files() {
        let m = module(&[]);
        for target in [
            "postgres://u:hunter2@h/db",
            "host=h password=hunter2",
            "host=h sslrootcert=/etc/shadow",
            "postgres://h/db?sslkey=/root/key",
        ] {
            let e = m.config_for(target, &no_env).unwrap_err().to_string();
            assert!(e.contains("may not set"), "{target}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn module_keys_are_recognised() {
        assert!(is_module_key("sslmode"));
        assert!(is_module_key("quiet_server"));
        assert!(!is_module_key("target"));
    }
}
