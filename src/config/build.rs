//! Validates the merged settings into a `Config`, filling in libpq's defaults and producing the
//! settings table (secrets already replaced by `***`).

use std::path::Path;
use std::time::Duration;

use super::endpoints::{self, default, emptied, from_raw};
use super::env::{self, Env};
use super::keywords::KEYWORDS;
use super::layers::{Layers, Raw};
use super::libpq::{
    self, LibpqVersion, LoadBalanceHosts, ProtocolVersion, SslCertMode, SslNegotiation, TlsRange,
};
use super::{ChannelBinding, RequireAuth};
use super::{
    Config, ConfigError, EvidenceConfig, Format, Input, LoginOptions, Secret, Setting, SslMode,
};

/// pgreach's per-address deadline when none (or libpq's "forever") is given.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Below this a probe could not even send a packet; almost certainly a unit mistake.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(1);

/// The application_name pgreach announces unless the user chose one.
const DEFAULT_APPLICATION_NAME: &str = "pgreach";

/// Shown instead of any secret value.
const REDACTED: &str = "***";

pub(crate) fn build(
    layers: &Layers,
    args: &Input,
    env: Env<'_>,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> Result<Config, ConfigError> {
    let (endpoints, mut settings) = endpoints::resolve(layers, socket_exists)?;

    let (user, user_setting) = user(layers, env);
    let (dbname, dbname_setting) = dbname(layers, &user);
    settings.extend([user_setting, dbname_setting]);

    let password = layers.nonempty("password").map(|raw| {
        settings.push(redacted("password", raw));
        Secret::new(raw.value.clone())
    });

    let version = args.libpq;
    let sslrootcert = optional(layers, "sslrootcert");
    let (sslmode, sslmode_setting) = sslmode(layers, sslrootcert.as_deref(), version)?;
    settings.push(sslmode_setting);
    let sslcert = optional(layers, "sslcert");
    let sslkey = optional(layers, "sslkey");
    let sslcrl = optional(layers, "sslcrl");
    let sslcrldir = optional(layers, "sslcrldir");
    // libpq sends SNI only when sslsni starts with '1' (the default).
    let sslsni = layers
        .get("sslsni")
        .is_none_or(|raw| raw.value.starts_with('1'));
    let known = |keyword| libpq::acted_on(layers, version, keyword);
    let sslnegotiation = known("sslnegotiation")
        .and_then(|raw| SslNegotiation::from_word(&raw.value))
        .unwrap_or_default();
    for name in [
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "sslnegotiation",
    ] {
        settings.extend(layers.get(name).map(|raw| from_raw(name, raw)));
    }

    let (connect_timeout, timeout_setting) = connect_timeout(layers)?;
    let (application_name, app_setting) = application_name(layers);
    settings.extend([timeout_setting, app_setting]);
    settings.extend(layers.get("service").map(|raw| from_raw("service", raw)));
    settings.extend(recorded_settings(layers));
    for setting in settings.iter_mut().filter(|s| !version.knows(s.name)) {
        setting.origin = format!("{} (unknown to libpq {version})", setting.origin);
    }
    let refusals = libpq::refusals(layers, version);
    // A value libpq refuses is left out here: the refusal already stops the whole run, and the
    // per-address matrix shows what happens once it is fixed.
    let require_auth = known("require_auth")
        .and_then(|raw| RequireAuth::parse(&raw.value, version >= LibpqVersion::V18).ok());
    let channel_binding = known("channel_binding")
        .and_then(|raw| ChannelBinding::from_word(&raw.value))
        .unwrap_or_default();
    let load_balance_hosts = known("load_balance_hosts")
        .and_then(|raw| LoadBalanceHosts::from_word(&raw.value))
        .unwrap_or_default();
    let sslcertmode = known("sslcertmode")
        .and_then(|raw| SslCertMode::from_word(&raw.value))
        .unwrap_or_default();
    let protocol = |keyword| {
        known(keyword)
            .and_then(|raw| ProtocolVersion::from_libpq(&raw.value))
            .unwrap_or_default()
    };
    let (min_protocol_version, max_protocol_version) = (
        protocol("min_protocol_version"),
        protocol("max_protocol_version"),
    );

    Ok(Config {
        endpoints,
        user,
        dbname,
        application_name,
        sslmode,
        sslrootcert,
        sslcert,
        sslkey,
        sslcrl,
        sslcrldir,
        sslsni,
        libpq: version,
        sslnegotiation,
        refusals,
        require_auth,
        channel_binding,
        load_balance_hosts,
        sslcertmode,
        min_protocol_version,
        max_protocol_version,
        tls_range: TlsRange::of(layers, version),
        connect_timeout,
        password,
        settings,
        env_mode: args.env,
        format: if args.json { Format::Json } else { args.format },
        expiry_warn_days: args.expiry_warn,
        fail_on: args.fail_on,
        quiet_server: args.quiet_server,
        direct_tls: args.direct_tls || sslnegotiation == SslNegotiation::Direct,
        gssenc: args.gssenc,
        tls_versions: args.tls_versions,
        evidence: EvidenceConfig::from_input(args, env),
        color: args.color,
        verbose: args.verbose,
        login: LoginOptions {
            enabled: args.login,
            prompt: args.password_prompt,
            allow_cleartext: args.allow_cleartext,
            show_secrets: args.show_secrets,
        },
    })
}

/// An empty value (`sslrootcert=`) means libpq's default, like no value.
fn optional(layers: &Layers, name: &str) -> Option<String> {
    layers.nonempty(name).map(|raw| raw.value.clone())
}

/// The OS user unless one is given; `user=` (empty) means the OS user too, as in libpq.
fn user(layers: &Layers, env: Env<'_>) -> (String, Setting) {
    if let Some(raw) = layers.nonempty("user") {
        return (raw.value.clone(), from_raw("user", raw));
    }
    let (user, origin) = env::os_user(env);
    let setting = emptied(layers.get("user"), "user", user.clone(), &origin);
    (user, setting)
}

/// libpq's dbname defaults to the user name (whatever source the user came from).
fn dbname(layers: &Layers, user: &str) -> (String, Setting) {
    if let Some(raw) = layers.nonempty("dbname") {
        return (raw.value.clone(), from_raw("dbname", raw));
    }
    let origin = "libpq default: same as user";
    let setting = emptied(layers.get("dbname"), "dbname", user.to_string(), origin);
    (user.to_string(), setting)
}

/// libpq matches sslmode exactly. With `sslrootcert=system` and no sslmode, libpq 16+ defaults
/// to verify-full. (A weaker explicit sslmode with `system` is refused by libpq; that is left to
/// the diagnosis, which can explain it, rather than stopping here.) A value libpq does not know
/// is one of its refusals (`libpq::refusals`) unless it was typed as pgreach's `--sslmode`; the
/// probe then runs as under libpq's default, so the report still shows every sslmode.
fn sslmode(
    layers: &Layers,
    sslrootcert: Option<&str>,
    version: LibpqVersion,
) -> Result<(SslMode, Setting), ConfigError> {
    if let Some(raw) = layers
        .get("sslmode")
        .filter(|raw| raw.origin != "--sslmode" && raw.value.parse::<SslMode>().is_err())
    {
        let setting = Setting {
            origin: format!(
                "{} (libpq refuses it; pgreach probes as under libpq's default, prefer)",
                raw.origin
            ),
            ..from_raw("sslmode", raw)
        };
        return Ok((SslMode::Prefer, setting));
    }
    let Some(raw) = layers.get("sslmode") else {
        return Ok(match sslrootcert {
            Some("system") if version.has_system_roots() => (
                SslMode::VerifyFull,
                default(
                    "sslmode",
                    "verify-full",
                    "libpq default with sslrootcert=system",
                ),
            ),
            _ => (
                SslMode::Prefer,
                default("sslmode", "prefer", "libpq default"),
            ),
        });
    };
    let mode = raw.value.parse::<SslMode>().map_err(|_| {
        ConfigError::new(format!(
            "invalid sslmode \"{}\" (from {}): expected one of {}",
            raw.value,
            raw.origin,
            SslMode::EXPECTED
        ))
    })?;
    Ok((mode, from_raw("sslmode", raw)))
}

/// Seconds, decimals allowed. libpq treats 0 or a negative value as "wait forever", which would
/// make a diagnostic tool hang; pgreach uses its default instead and says so.
fn connect_timeout(layers: &Layers) -> Result<(Duration, Setting), ConfigError> {
    let Some(raw) = layers.get("connect_timeout") else {
        let setting = default(
            "connect_timeout",
            seconds(DEFAULT_CONNECT_TIMEOUT),
            "pgreach default",
        );
        return Ok((DEFAULT_CONNECT_TIMEOUT, setting));
    };
    let invalid = |why: &str| {
        ConfigError::new(format!(
            "invalid connect_timeout \"{}\" (from {}): {why}",
            raw.value, raw.origin
        ))
    };
    // libpq refuses anything but an integer (see `libpq::refusals`); the probe still runs,
    // with pgreach's default budget. pgreach's own --connect-timeout takes decimals.
    if raw.origin != "--connect-timeout" && !libpq::is_integer(&raw.value) {
        let setting = Setting {
            origin: format!("{} (libpq refuses it)", raw.origin),
            ..from_raw("connect_timeout", raw)
        };
        return Ok((DEFAULT_CONNECT_TIMEOUT, setting));
    }
    let secs: f64 = raw
        .value
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite())
        .ok_or_else(|| invalid("expected a number of seconds"))?;
    if secs <= 0.0 {
        let setting = Setting {
            value: seconds(DEFAULT_CONNECT_TIMEOUT),
            origin: format!(
                "{} gave {}: libpq would wait indefinitely; pgreach uses {} s",
                raw.origin,
                raw.value,
                seconds(DEFAULT_CONNECT_TIMEOUT)
            ),
            ..from_raw("connect_timeout", raw)
        };
        return Ok((DEFAULT_CONNECT_TIMEOUT, setting));
    }
    let timeout = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|&t| t >= MIN_CONNECT_TIMEOUT)
        .ok_or_else(|| invalid("expected between 0.001 and about 10^19 seconds"))?;
    Ok((timeout, from_raw("connect_timeout", raw)))
}

fn seconds(duration: Duration) -> String {
    duration.as_secs_f64().to_string()
}

/// application_name, else fallback_application_name (as libpq), else "pgreach".
fn application_name(layers: &Layers) -> (String, Setting) {
    if let Some(raw) = layers.nonempty("application_name") {
        return (raw.value.clone(), from_raw("application_name", raw));
    }
    if let Some(raw) = layers.nonempty("fallback_application_name") {
        let setting = Setting {
            origin: format!("{} (fallback_application_name)", raw.origin),
            ..from_raw("application_name", raw)
        };
        return (raw.value.clone(), setting);
    }
    let setting = default(
        "application_name",
        DEFAULT_APPLICATION_NAME,
        "pgreach default",
    );
    (DEFAULT_APPLICATION_NAME.to_string(), setting)
}

/// Keywords pgreach does not act on but the report should show, because the application's libpq
/// will (gssencmode, sslnegotiation, target_session_attrs, …).
fn recorded_settings(layers: &Layers) -> Vec<Setting> {
    KEYWORDS
        .iter()
        .filter(|keyword| !keyword.used)
        .filter_map(|keyword| {
            let raw = layers.get(keyword.name)?;
            let mut setting = match keyword.secret {
                true => redacted(keyword.name, raw),
                false => from_raw(keyword.name, raw),
            };
            setting.origin = format!("{} (recorded; not used by pgreach)", raw.origin);
            Some(setting)
        })
        .collect()
}

fn redacted(name: &'static str, raw: &Raw) -> Setting {
    Setting {
        name,
        value: REDACTED.to_string(),
        source: raw.source,
        origin: raw.origin.clone(),
    }
}
