//! Settings from the environment: libpq's `PG*` variables and the application's own variables
//! (`DATABASE_URL`, or Django-style `DB_*`), each recorded with the variable's name as origin.
//!
//! The environment is always read through the caller's lookup function, never directly, so tests
//! (and a future "read another process's environment" mode) control it completely.

use super::keywords::KEYWORDS;
use super::layers::Layers;
use super::{ConfigError, EnvMode, Source, target};

/// An environment lookup: `Some(value)` if the variable is set.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The variable twelve-factor apps (Rails, Heroku, dj-database-url, …) read.
const DATABASE_URL: &str = "DATABASE_URL";

/// The Django-style variables read with `--env django`, and the libpq keyword each sets.
const DJANGO_VARS: [(&str, &str); 7] = [
    ("DB_HOST", "host"),
    ("DB_PORT", "port"),
    ("DB_NAME", "dbname"),
    ("DB_USER", "user"),
    ("DB_PASSWORD", "password"),
    ("DB_SSLMODE", "sslmode"),
    ("DB_SSLROOTCERT", "sslrootcert"),
];

/// Every `PG*` variable libpq itself reads (the lowest-precedence source after defaults).
pub(crate) fn apply_libpq_vars(layers: &mut Layers, env: Env<'_>) {
    for keyword in KEYWORDS {
        if let Some(var) = keyword.env
            && let Some(value) = env(var)
        {
            layers.set(keyword.name, value, Source::Env, var);
        }
    }
    apply_requiressl(layers, env);
}

/// The deprecated `PGREQUIRESSL`: libpq 15 and 18 still read it when PGSSLMODE is not set at
/// all (`conninfo_add_defaults`), a value starting with `1` meaning sslmode=require; any other
/// value changes nothing.
fn apply_requiressl(layers: &mut Layers, env: Env<'_>) {
    let requires = env(REQUIRESSL).is_some_and(|value| value.starts_with('1'));
    if requires && env("PGSSLMODE").is_none() {
        let origin = format!("{REQUIRESSL} (deprecated; libpq still reads it)");
        layers.set("sslmode", "require", Source::Env, &origin);
    }
}

/// libpq's old variable for sslmode=require.
const REQUIRESSL: &str = "PGREQUIRESSL";

/// The application's own configuration, which sits above the `PG*` variables (the app passes it
/// to libpq explicitly) and below the command line.
///
/// `DATABASE_URL` describes a whole connection, so it is ignored when a TARGET is given rather
/// than mixed with it. The `DB_*` variables are individual settings and merge normally.
pub(crate) fn apply_app_source(
    layers: &mut Layers,
    env: Env<'_>,
    mode: EnvMode,
    has_target: bool,
) -> Result<(), ConfigError> {
    match mode {
        EnvMode::Libpq => {
            let url = env(DATABASE_URL).filter(|url| !url.is_empty());
            if let Some(url) = url.filter(|_| !has_target) {
                let parsed = target::parse_target(&url, Some(DATABASE_URL))?;
                layers.apply(parsed.pairs, Source::Env, DATABASE_URL);
            }
        }
        EnvMode::Django => {
            for (var, keyword) in DJANGO_VARS {
                if let Some(value) = env(var) {
                    layers.set(keyword, value, Source::Env, var);
                }
            }
        }
    }
    Ok(())
}

/// The default user name and its origin, as libpq finds it: the account of the effective uid
/// (`getpwuid(geteuid())`). libpq ignores `$USER`; so does pgreach, except as a last resort when
/// the account database has no entry (a container running an arbitrary uid).
pub(crate) fn os_user(env: Env<'_>) -> (String, String) {
    let uid = nix::unistd::geteuid();
    if let Ok(Some(user)) = nix::unistd::User::from_uid(uid) {
        return (user.name, format!("OS user (uid {uid})"));
    }
    for var in ["USER", "LOGNAME"] {
        if let Some(user) = env(var).filter(|user| !user.is_empty()) {
            return (user, format!("${var}: uid {uid} has no account entry"));
        }
    }
    (
        "postgres".to_string(),
        format!("fallback: uid {uid} has no account entry and $USER is unset"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn value(layers: &Layers, keyword: &str) -> Option<(String, Source, String)> {
        layers
            .get(keyword)
            .map(|raw| (raw.value.clone(), raw.source, raw.origin.clone()))
    }

    #[test]
    fn libpq_vars_use_their_names_as_origin() {
        let env = lookup(&[
            ("PGHOST", "h"),
            ("PGPORT", "5433"),
            ("PGGSSENCMODE", "disable"),
            ("DB_HOST", "ignored"),
        ]);
        let mut layers = Layers::default();
        apply_libpq_vars(&mut layers, &env);
        assert_eq!(
            value(&layers, "host"),
            Some(("h".into(), Source::Env, "PGHOST".into()))
        );
        assert_eq!(value(&layers, "port").unwrap().2, "PGPORT");
        assert_eq!(value(&layers, "gssencmode").unwrap().0, "disable");
    }

    #[test]
    fn pgrequiressl_applies_only_without_pgsslmode() {
        // (environment, expected (sslmode, origin))
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<(&'a str, &'a str)>);
        let cases: [Case; 4] = [
            (
                &[("PGREQUIRESSL", "1")],
                Some(("require", "PGREQUIRESSL (deprecated; libpq still reads it)")),
            ),
            (&[("PGREQUIRESSL", "0")], None),
            (
                &[("PGREQUIRESSL", "1"), ("PGSSLMODE", "disable")],
                Some(("disable", "PGSSLMODE")),
            ),
            (&[("PGREQUIRESSL", "1"), ("PGSSLMODE", "")], None),
        ];
        for (vars, expected) in cases {
            let mut layers = Layers::default();
            apply_libpq_vars(&mut layers, &lookup(vars));
            let got = value(&layers, "sslmode").map(|(v, _, o)| (v, o));
            let expected = expected.map(|(v, o)| (v.to_string(), o.to_string()));
            assert_eq!(got, expected, "{vars:?}");
        }
    }

    #[test]
    fn database_url_only_without_target_and_in_libpq_mode() {
        let env = lookup(&[("DATABASE_URL", "postgres://u@db/app"), ("DB_HOST", "dj")]);
        let mut layers = Layers::default();
        apply_app_source(&mut layers, &env, EnvMode::Libpq, false).unwrap();
        assert_eq!(
            value(&layers, "host"),
            Some(("db".into(), Source::Env, "DATABASE_URL".into()))
        );
        assert_eq!(value(&layers, "dbname").unwrap().0, "app");

        let mut layers = Layers::default();
        apply_app_source(&mut layers, &env, EnvMode::Libpq, true).unwrap();
        assert!(layers.get("host").is_none());

        let mut layers = Layers::default();
        apply_app_source(&mut layers, &env, EnvMode::Django, false).unwrap();
        assert_eq!(
            value(&layers, "host"),
            Some(("dj".into(), Source::Env, "DB_HOST".into()))
        );
        assert!(layers.get("dbname").is_none());
    }

    #[test]
    fn django_vars_map_to_keywords() {
        let env = lookup(&[
            ("DB_HOST", "h"),
            ("DB_PORT", "6432"),
            ("DB_NAME", "n"),
            ("DB_USER", "u"),
            ("DB_PASSWORD", "pw"),
            ("DB_SSLMODE", "require"),
            ("DB_SSLROOTCERT", "/ca.pem"),
        ]);
        let mut layers = Layers::default();
        apply_app_source(&mut layers, &env, EnvMode::Django, false).unwrap();
        for (keyword, expected, var) in [
            ("host", "h", "DB_HOST"),
            ("port", "6432", "DB_PORT"),
            ("dbname", "n", "DB_NAME"),
            ("user", "u", "DB_USER"),
            ("password", "pw", "DB_PASSWORD"),
            ("sslmode", "require", "DB_SSLMODE"),
            ("sslrootcert", "/ca.pem", "DB_SSLROOTCERT"),
        ] {
            assert_eq!(
                value(&layers, keyword),
                Some((expected.into(), Source::Env, var.into())),
                "{keyword}"
            );
        }
    }

    #[test]
    fn bad_database_url_names_the_variable_and_hides_the_password() {
        let env = lookup(&[("DATABASE_URL", "postgres://u:hunter2@[::1/db")]);
        let err = apply_app_source(&mut Layers::default(), &env, EnvMode::Libpq, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(from DATABASE_URL)"), "{err}");
        assert!(err.contains("postgres://u:***@[::1/db"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn os_user_is_the_effective_account_not_user_variable() {
        let (name, origin) = os_user(&lookup(&[("USER", "somebody-else")]));
        let expected = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap()
            .name;
        assert_eq!(name, expected);
        assert!(origin.starts_with("OS user (uid"), "{origin}");
    }
}
