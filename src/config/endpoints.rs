//! Turns the merged `host`, `hostaddr` and `port` values into endpoints, following libpq's
//! `pqConnectOptions2`: comma lists pair up by position, one port may serve every host, and an
//! empty entry means the default.

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::keywords;
use super::layers::{Layers, Raw};
use super::{ConfigError, Endpoint, HostSpec, Setting, Source};

/// libpq's DEF_PGPORT.
pub(crate) const DEFAULT_PORT: u16 = 5432;

/// Where a default host's socket is looked for: Debian/Ubuntu/RHEL packages first (Debian's
/// libpq has it compiled in), then the upstream default (`DEFAULT_PGSOCKET_DIR`).
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// The endpoints in libpq's order, and the `host`, `hostaddr` and `port` settings.
pub(crate) fn resolve(
    layers: &Layers,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> Result<(Vec<Endpoint>, Vec<Setting>), ConfigError> {
    let host = layers.get("host");
    // libpq counts `hostaddr=` (empty) as no hostaddr at all.
    let hostaddr = layers.nonempty("hostaddr");
    let names: Vec<&str> = host.map_or_else(Vec::new, |raw| raw.value.split(',').collect());
    let addrs = hostaddr
        .map(parse_hostaddrs)
        .transpose()?
        .unwrap_or_default();

    // libpq counts hosts by hostaddr when it is given, else by host.
    let count = match (addrs.len(), names.len()) {
        (0, 0) => 1,
        (0, n) | (n, 0) => n,
        (a, n) if a == n => n,
        (a, n) => {
            return Err(ConfigError::new(format!(
                "could not match {n} host names to {a} hostaddr values (host from {}, hostaddr from {})",
                origin(host),
                origin(hostaddr)
            )));
        }
    };
    let ports = parse_ports(layers.get("port"), count)?;

    let mut endpoints = Vec::with_capacity(count);
    let mut shown_hosts = Vec::with_capacity(count);
    let mut default_reason = None;
    for (i, &port) in ports.iter().enumerate() {
        let name = names.get(i).copied().unwrap_or("");
        let addr = addrs.get(i).copied().flatten();
        let spec = match (addr, name) {
            (Some(addr), _) => HostSpec::HostAddr {
                name: (!name.is_empty() && !is_socket(name)).then(|| name.to_string()),
                addr,
            },
            (None, "") => {
                let (spec, reason) = default_host(port, socket_exists);
                default_reason.get_or_insert(reason);
                shown_hosts.push(spec.display());
                endpoints.push(Endpoint { host: spec, port });
                continue;
            }
            (None, name) => classify_host(name),
        };
        shown_hosts.push(name.to_string());
        endpoints.push(Endpoint { host: spec, port });
    }

    let mut settings = vec![host_setting(host, hostaddr, &shown_hosts, default_reason)];
    if let Some(raw) = hostaddr {
        settings.push(from_raw("hostaddr", raw));
    }
    settings.push(port_setting(layers.get("port")));
    Ok((endpoints, settings))
}

/// A host entry that is a Unix-socket directory: an absolute path, or `@name` (abstract).
fn is_socket(name: &str) -> bool {
    name.starts_with('/') || name.starts_with('@')
}

/// An IP literal skips DNS; `[v6]` from a flag is accepted too.
fn classify_host(name: &str) -> HostSpec {
    if is_socket(name) {
        return HostSpec::Socket(PathBuf::from(name));
    }
    let unbracketed = name
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(name);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return HostSpec::Ip(ip);
    }
    match unbracketed.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() => match addr.parse::<Ipv6Addr>() {
            Ok(addr) => HostSpec::ScopedIp {
                addr,
                zone: zone.to_string(),
            },
            Err(_) => HostSpec::Name(name.to_string()),
        },
        _ => HostSpec::Name(name.to_string()),
    }
}

/// What libpq uses with no host: its compiled-in socket directory, and nothing else (it never
/// falls back to TCP). pgreach probes the directory where the socket exists, else Debian's
/// `/var/run/postgresql`, so that a missing socket is reported the way the application sees it.
fn default_host(port: u16, socket_exists: &dyn Fn(&Path) -> bool) -> (HostSpec, String) {
    for dir in SOCKET_DIRS {
        let file = Path::new(dir).join(format!(".s.PGSQL.{port}"));
        if socket_exists(&file) {
            let reason = format!("libpq's socket directory; socket {} exists", file.display());
            return (HostSpec::Socket(PathBuf::from(dir)), reason);
        }
    }
    let reason = format!(
        "libpq's socket directory: {dir} in Debian's libpq, /tmp in upstream builds; \
         no socket .s.PGSQL.{port} in either",
        dir = SOCKET_DIRS[0]
    );
    (HostSpec::Socket(PathBuf::from(SOCKET_DIRS[0])), reason)
}

/// libpq resolves hostaddr with AI_NUMERICHOST: only IP literals; an empty entry uses the host.
fn parse_hostaddrs(raw: &Raw) -> Result<Vec<Option<IpAddr>>, ConfigError> {
    raw.value
        .split(',')
        .map(|item| match item {
            "" => Ok(None),
            _ => item.parse().map(Some).map_err(|_| {
                ConfigError::new(format!(
                    "invalid hostaddr \"{item}\" (from {}): must be a numeric IPv4 or IPv6 address",
                    raw.origin
                ))
            }),
        })
        .collect()
}

/// One port per host, or one port for all hosts.
fn parse_ports(raw: Option<&Raw>, count: usize) -> Result<Vec<u16>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(vec![DEFAULT_PORT; count]);
    };
    let ports = raw
        .value
        .split(',')
        .map(|item| parse_port(item, raw))
        .collect::<Result<Vec<u16>, ConfigError>>()?;
    match ports.len() {
        1 => Ok(vec![ports[0]; count]),
        n if n == count => Ok(ports),
        n => Err(ConfigError::new(format!(
            "could not match {n} port numbers to {count} hosts (port \"{}\" from {})",
            raw.value, raw.origin
        ))),
    }
}

/// Like libpq's parse_int_param: surrounding whitespace is allowed, then 1..=65535.
fn parse_port(item: &str, raw: &Raw) -> Result<u16, ConfigError> {
    let trimmed = item.trim();
    if trimmed.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    trimmed
        .parse::<u16>()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| {
            ConfigError::new(format!(
                "invalid port \"{item}\" (from {}): must be 1..65535",
                raw.origin
            ))
        })
}

fn host_setting(
    host: Option<&Raw>,
    hostaddr: Option<&Raw>,
    shown: &[String],
    default_reason: Option<String>,
) -> Setting {
    let value = shown.join(",");
    match (host, hostaddr, default_reason) {
        (Some(raw), _, None) => Setting {
            value,
            ..from_raw("host", raw)
        },
        (Some(raw), _, Some(reason)) if raw.value.is_empty() => {
            emptied(Some(raw), "host", value, &reason)
        }
        (Some(raw), _, Some(reason)) => Setting {
            value,
            origin: format!("{}; empty entry: {reason}", raw.origin),
            ..from_raw("host", raw)
        },
        (None, Some(_), _) => default("host", String::new(), "not set; hostaddr is used"),
        (None, None, reason) => default("host", value, reason.as_deref().unwrap_or("default")),
    }
}

fn port_setting(raw: Option<&Raw>) -> Setting {
    let Some(raw) = raw else {
        return default("port", DEFAULT_PORT.to_string(), "libpq default");
    };
    if raw.value.trim().is_empty() {
        return emptied(Some(raw), "port", DEFAULT_PORT.to_string(), "libpq default");
    }
    // Show what empty list entries mean.
    let value = raw
        .value
        .split(',')
        .map(|item| match item.trim() {
            "" => DEFAULT_PORT.to_string(),
            port => port.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    Setting {
        value,
        ..from_raw("port", raw)
    }
}

fn origin(raw: Option<&Raw>) -> &str {
    raw.map_or("default", |raw| raw.origin.as_str())
}

pub(crate) fn from_raw(name: &'static str, raw: &Raw) -> Setting {
    Setting {
        name,
        value: raw.value.clone(),
        source: raw.source,
        origin: raw.origin.clone(),
    }
}

/// The setting for a keyword that takes its default (`value`, for `reason`): plainly a default
/// when nothing set it, or, when a connection string set it empty (`port=`), that source, saying
/// that the environment variable was therefore not used (as in libpq).
pub(crate) fn emptied(
    raw: Option<&Raw>,
    name: &'static str,
    value: String,
    reason: &str,
) -> Setting {
    let Some(raw) = raw else {
        return default(name, value, reason);
    };
    let env = keywords::lookup(name)
        .and_then(|k| k.env)
        .map(|var| format!(", so {var} is not used"))
        .unwrap_or_default();
    Setting {
        value,
        origin: format!("{} set {name} empty{env}: {reason}", raw.origin),
        ..from_raw(name, raw)
    }
}

pub(crate) fn default(name: &'static str, value: impl Into<String>, origin: &str) -> Setting {
    Setting {
        name,
        value: value.into(),
        source: Source::Default,
        origin: origin.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn layers(values: &[(&'static str, &str)]) -> Layers {
        let mut layers = Layers::default();
        for (keyword, value) in values {
            layers.set(keyword, *value, Source::Flag, &format!("--{keyword}"));
        }
        layers
    }

    /// Keyword/value pairs set from flags.
    type Values = &'static [(&'static str, &'static str)];

    fn no_socket(_: &Path) -> bool {
        false
    }

    fn endpoints(values: &[(&'static str, &str)]) -> Vec<Endpoint> {
        resolve(&layers(values), &no_socket).unwrap().0
    }

    fn error(values: &[(&'static str, &str)]) -> String {
        resolve(&layers(values), &no_socket)
            .unwrap_err()
            .to_string()
    }

    fn ep(host: HostSpec, port: u16) -> Endpoint {
        Endpoint { host, port }
    }

    fn name(n: &str) -> HostSpec {
        HostSpec::Name(n.to_string())
    }

    #[test]
    fn host_kinds() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let cases: &[(Values, Vec<Endpoint>)] = &[
            (&[("host", "db")], vec![ep(name("db"), 5432)]),
            (&[("host", "10.0.0.5")], vec![ep(HostSpec::Ip(v4), 5432)]),
            (&[("host", "::1")], vec![ep(HostSpec::Ip(v6), 5432)]),
            (&[("host", "[::1]")], vec![ep(HostSpec::Ip(v6), 5432)]),
            (
                &[("host", "fe80::1%eth0")],
                vec![ep(
                    HostSpec::ScopedIp {
                        addr: "fe80::1".parse().unwrap(),
                        zone: "eth0".into(),
                    },
                    5432,
                )],
            ),
            (&[("host", "fe80::1%")], vec![ep(name("fe80::1%"), 5432)]),
            (
                &[("host", "/tmp"), ("port", "5433")],
                vec![ep(HostSpec::Socket("/tmp".into()), 5433)],
            ),
            (
                &[("host", "@abstract")],
                vec![ep(HostSpec::Socket("@abstract".into()), 5432)],
            ),
            (
                &[],
                vec![ep(HostSpec::Socket("/var/run/postgresql".into()), 5432)],
            ),
            (
                &[("hostaddr", "10.0.0.5")],
                vec![ep(
                    HostSpec::HostAddr {
                        name: None,
                        addr: v4,
                    },
                    5432,
                )],
            ),
            (
                &[("host", "db.example"), ("hostaddr", "10.0.0.5")],
                vec![ep(
                    HostSpec::HostAddr {
                        name: Some("db.example".into()),
                        addr: v4,
                    },
                    5432,
                )],
            ),
        ];
        for (values, expected) in cases {
            assert_eq!(&endpoints(values), expected, "{values:?}");
        }
    }

    #[test]
    fn multi_host_lists() {
        let cases: &[(Values, Vec<Endpoint>)] = &[
            (
                &[("host", "a,b,c"), ("port", "6432")],
                vec![
                    ep(name("a"), 6432),
                    ep(name("b"), 6432),
                    ep(name("c"), 6432),
                ],
            ),
            (
                &[("host", "a,b"), ("port", "5432,5433")],
                vec![ep(name("a"), 5432), ep(name("b"), 5433)],
            ),
            (
                &[("host", "a,b"), ("port", ",5433")],
                vec![ep(name("a"), 5432), ep(name("b"), 5433)],
            ),
            (
                &[("host", "a,,/tmp")],
                vec![
                    ep(name("a"), 5432),
                    ep(HostSpec::Socket("/var/run/postgresql".into()), 5432),
                    ep(HostSpec::Socket("/tmp".into()), 5432),
                ],
            ),
            (
                &[("host", "a,b"), ("hostaddr", "10.0.0.1,")],
                vec![
                    ep(
                        HostSpec::HostAddr {
                            name: Some("a".into()),
                            addr: "10.0.0.1".parse().unwrap(),
                        },
                        5432,
                    ),
                    ep(name("b"), 5432),
                ],
            ),
        ];
        for (values, expected) in cases {
            assert_eq!(&endpoints(values), expected, "{values:?}");
        }
    }

    #[test]
    fn errors_name_the_value_and_its_origin() {
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (
                &[("port", "70000")],
                "invalid port \"70000\" (from --port): must be 1..65535",
            ),
            (
                &[("port", "0")],
                "invalid port \"0\" (from --port): must be 1..65535",
            ),
            (
                &[("port", "-1")],
                "invalid port \"-1\" (from --port): must be 1..65535",
            ),
            (
                &[("port", "54x")],
                "invalid port \"54x\" (from --port): must be 1..65535",
            ),
            (
                &[("host", "a,b"), ("port", "5432,99999")],
                "invalid port \"99999\" (from --port)",
            ),
            (
                &[("host", "a,b,c"), ("port", "1,2")],
                "could not match 2 port numbers to 3 hosts (port \"1,2\" from --port)",
            ),
            (
                &[("host", "a,b"), ("hostaddr", "10.0.0.1")],
                "could not match 2 host names to 1 hostaddr values",
            ),
            (
                &[("hostaddr", "db.example")],
                "invalid hostaddr \"db.example\" (from --hostaddr): must be a numeric",
            ),
        ];
        for (values, needle) in cases {
            let err = error(values);
            assert!(err.contains(needle), "{values:?}: {err}");
        }
    }

    #[test]
    fn port_whitespace_is_tolerated_like_libpq() {
        assert_eq!(
            endpoints(&[("host", "a"), ("port", " 5433 ")]),
            vec![ep(name("a"), 5433)]
        );
    }

    #[test]
    fn default_host_prefers_an_existing_socket() {
        let debian = |p: &Path| p == Path::new("/var/run/postgresql/.s.PGSQL.5433");
        let tmp = |p: &Path| p == Path::new("/tmp/.s.PGSQL.5432");
        let only_port = layers(&[("port", "5433")]);

        let (eps, settings) = resolve(&only_port, &debian).unwrap();
        assert_eq!(
            eps,
            vec![ep(HostSpec::Socket("/var/run/postgresql".into()), 5433)]
        );
        assert_eq!(settings[0].value, "/var/run/postgresql");
        assert_eq!(settings[0].source, Source::Default);
        assert_eq!(
            settings[0].origin,
            "libpq's socket directory; socket /var/run/postgresql/.s.PGSQL.5433 exists"
        );

        // The socket must be for the right port; with none, Debian's directory (never TCP).
        let (eps, _) = resolve(&only_port, &tmp).unwrap();
        assert_eq!(
            eps,
            vec![ep(HostSpec::Socket("/var/run/postgresql".into()), 5433)]
        );
        let (eps, _) = resolve(&Layers::default(), &tmp).unwrap();
        assert_eq!(eps, vec![ep(HostSpec::Socket("/tmp".into()), 5432)]);
    }

    #[test]
    fn settings_show_effective_values() {
        let (_, settings) =
            resolve(&layers(&[("host", "a,,c"), ("port", ",5433,")]), &no_socket).unwrap();
        let host = &settings[0];
        assert_eq!(host.name, "host");
        assert_eq!(host.value, "a,/var/run/postgresql,c");
        assert_eq!(host.source, Source::Flag);
        assert!(
            host.origin
                .starts_with("--host; empty entry: libpq's socket directory: /var/run/postgresql"),
            "{}",
            host.origin
        );
        let port = &settings[1];
        assert_eq!((port.name, port.value.as_str()), ("port", "5432,5433,5432"));

        let (_, settings) = resolve(&layers(&[("hostaddr", "10.0.0.1")]), &no_socket).unwrap();
        let names: Vec<_> = settings
            .iter()
            .map(|s| (s.name, s.value.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("host", ""), ("hostaddr", "10.0.0.1"), ("port", "5432")]
        );
    }
}
