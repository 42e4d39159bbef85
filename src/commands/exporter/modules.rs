//! The configuration file (YAML, like blackbox_exporter's): the allow list and the modules.
//! Every key is checked as it is read, so an error names the file, the line and the key; what
//! each module's probes share (the TLS setup, a resolver) is built here, once per load.
//!
//! ```yaml
//! allow: [10.0.0.0/8, "*.db.internal"]
//! modules:
//!   default: { sslmode: prefer, user: monitor, dbname: postgres }
//!   verify: { sslmode: verify-full, sslrootcert: /etc/ssl/db-ca.pem, user: monitor }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::allow::Allow;
use crate::config::{Config, Module};
use crate::resolve::Dns;
use crate::session::{self, TlsSetup};

/// A module ready to probe with.
pub struct Prepared {
    pub module: Module,
    /// Built once per module (and again on reload), never per probe.
    pub tls: TlsSetup,
    /// Shared by the module's probes, so its cache serves them all.
    pub dns: Dns,
}

/// Everything read from the file.
pub struct Loaded {
    pub allow: Allow,
    pub modules: BTreeMap<String, Arc<Prepared>>,
    pub loaded_at: SystemTime,
}

/// No configuration file: one `default` module with libpq's defaults, loopback only.
pub fn defaults(env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, String> {
    prepare(
        Allow::default(),
        vec![Module::new("default")],
        env,
        "defaults",
    )
}

/// Reads and checks `path`; the error is one line naming the file (and, from the YAML
/// parser, the line and the key).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let file: FileSpec = yaml_serde::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
    let allow = match file.allow {
        Some(entries) => Allow::parse(&entries.into_iter().map(|e| e.0).collect::<Vec<_>>())
            .map_err(|e| format!("{shown}: {e}"))?,
        None => Allow::default(),
    };
    let specs = file
        .modules
        .map(|m| m.0)
        .unwrap_or_else(|| vec![Module::new("default")]);
    prepare(allow, specs, env, &shown.to_string())
}

/// Settles each module and builds what its probes share.
fn prepare(
    allow: Allow,
    specs: Vec<Module>,
    env: &dyn Fn(&str) -> Option<String>,
    shown: &str,
) -> Result<Loaded, String> {
    let home = session::home_dir();
    let mut modules = BTreeMap::new();
    for mut module in specs {
        let config = module
            .settle(env)
            .map_err(|e| format!("{shown}: modules.{}: {e}", module.name()))?;
        check_files(&config).map_err(|e| format!("{shown}: modules.{}: {e}", module.name()))?;
        let prepared = Prepared {
            tls: TlsSetup::load(&config, home.as_deref(), None),
            dns: Dns::from_system(config.connect_timeout),
            module,
        };
        modules.insert(prepared.module.name().to_owned(), Arc::new(prepared));
    }
    Ok(Loaded {
        allow,
        modules,
        loaded_at: SystemTime::now(),
    })
}

/// A certificate or key file that cannot be read is a mistake in the file, found now rather
/// than as a failed probe on every scrape.
fn check_files(config: &Config) -> Result<(), String> {
    let files = [
        ("sslrootcert", &config.sslrootcert),
        ("sslcert", &config.sslcert),
        ("sslkey", &config.sslkey),
    ];
    for (key, file) in files {
        match file.as_deref() {
            None | Some("system") => {}
            Some(f) => {
                std::fs::File::open(f).map_err(|e| format!("{key}: {f}: {e}"))?;
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    allow: Option<Vec<AllowEntry>>,
    modules: Option<Modules>,
}

/// One allow entry, checked where it is written.
struct AllowEntry(String);

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AllowEntry, D::Error> {
        d.deserialize_str(AllowVisitor)
    }
}

/// Checks the entry inside the parser's visit, so that an error carries the entry's line.
struct AllowVisitor;

impl Visitor<'_> for AllowVisitor {
    type Value = AllowEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CIDR block, an address, a host name or *.domain")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AllowEntry, E> {
        let entry = v.to_owned();
        Allow::parse(std::slice::from_ref(&entry)).map_err(E::custom)?;
        Ok(AllowEntry(entry))
    }
}

/// The modules, in the file's order.
struct Modules(Vec<Module>);

impl<'de> Deserialize<'de> for Modules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Modules, D::Error> {
        d.deserialize_map(ModulesVisitor)
    }
}

struct ModulesVisitor;

impl<'de> Visitor<'de> for ModulesVisitor {
    type Value = Modules;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of module names to their settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Modules, A::Error> {
        let mut modules: Vec<Module> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                return Err(de::Error::custom(format!(
                    "module name \"{name}\": expected letters, digits, '_', '-' or '.'"
                )));
            }
            if modules.iter().any(|m| m.name() == name) {
                return Err(de::Error::custom(format!("module {name} is defined twice")));
            }
            modules.push(map.next_value_seed(ModuleSeed(&name))?);
        }
        Ok(Modules(modules))
    }
}

/// Reads one module's settings, each through `Module::set`.
struct ModuleSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for ModuleSeed<'_> {
    type Value = Module;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Module, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ModuleSeed<'_> {
    type Value = Module;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map of libpq keywords and probe options to values")
    }

    /// `default: {}` and `default:` (null) both mean "libpq's defaults".
    fn visit_unit<E: de::Error>(self) -> Result<Module, E> {
        Ok(Module::new(self.0))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Module, A::Error> {
        let mut module = Module::new(self.0);
        while let Some(key) = map.next_key::<String>()? {
            map.next_value_seed(Setting {
                key: &key,
                module: &mut module,
            })?;
        }
        Ok(module)
    }
}

/// One setting: its value as libpq would read it (text, a number, a boolean as 1/0), set in
/// the module while the parser still stands on it, so that an error carries its line.
struct Setting<'a> {
    key: &'a str,
    module: &'a mut Module,
}

impl<'de> DeserializeSeed<'de> for Setting<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Setting<'_> {
    fn set<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.module.set(self.key, value).map_err(E::custom)
    }
}

impl Visitor<'_> for Setting<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, a number or a boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.set(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.set(if v { "1" } else { "0" })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.set(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.set(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.set(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn load_text(text: &str) -> Result<Loaded, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgreach-exporter.yml");
        std::fs::write(&path, text).unwrap();
        load(&path, &|_| None)
    }

    #[test]
    fn a_good_file_loads() {
        let l = load_text(
            "allow: [10.0.0.0/8, \"*.db.internal\"]\nmodules:\n  default: { sslmode: prefer, user: monitor, dbname: postgres }\n  quick:\n    connect_timeout: 3\n    quiet_server: true\n",
        )
        .unwrap();
        assert_eq!(l.modules.len(), 2);
        let quick = l.modules["quick"]
            .module
            .config_for("h", &|_| None)
            .unwrap();
        assert_eq!(quick.connect_timeout, Duration::from_secs(3));
        assert!(quick.quiet_server);
        assert!(l.allow.contains("10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn no_modules_means_a_default_one_and_no_allow_means_loopback() {
        let l = load_text("{}\n").unwrap();
        assert!(l.modules.contains_key("default"));
        assert!(l.allow.contains("127.0.0.1".parse().unwrap()));
        assert!(!l.allow.contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let e = load_text("modules:\n  verify:\n    user: monitor\n    sslmode: verify_full\n")
            .err()
            .unwrap();
        assert!(e.contains("pgreach-exporter.yml"), "{e}");
        assert!(e.contains("sslmode"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let e = load_text("modules:\n  verify:\n    sslmod: require\n")
            .err()
            .unwrap();
        assert!(e.contains("sslmod") && e.contains("line 3"), "{e}");
        let e = load_text("allow:\n  - 10.0.0.0/8\n  - \"bad entry\"\n")
            .err()
            .unwrap();
        assert!(e.contains("bad entry") && e.contains("line 3"), "{e}");
        let e = load_text("modules: {}\nalow: []\n").err().unwrap();
        assert!(
            e.contains("unknown field `alow`") && e.contains("line 2"),
            "{e}"
        );
        // At the very first position of the file the parser names no line, only the key.
        let e = load_text("alow: []\n").err().unwrap();
        assert!(e.contains("unknown field `alow`"), "{e}");
        let e = load_text("modules:\n  v: { sslrootcert: /nonexistent/ca.pem }\n")
            .err()
            .unwrap();
        assert!(
            e.contains("modules.v") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
    }
}
