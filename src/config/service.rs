//! libpq's connection service file: finds the `[name]` section a `service=` or `PGSERVICE` names
//! and turns it into one more layer of settings, below the connection string and above the `PG*`
//! variables (`parseServiceInfo` and `parseServiceFile` in libpq's fe-connect.c).
//!
//! The search, as in libpq 15 and 18: the user file (`PGSERVICEFILE`, else
//! `~/.pg_service.conf`), and only if the service is not defined there, the system file
//! `pg_service.conf` in `PGSYSCONFDIR` (else the compiled-in sysconfdir). The first file that
//! defines the service is the only one read for it, and within it only the first `[name]`
//! section. Errors are libpq's own words, with the file and line.
//!
//! libpq 18 has no `servicefile` connection keyword (PostgreSQL 18.4 rejects it as an invalid
//! connection option, like 15), so only `PGSERVICEFILE` names the user file.

use std::io;
use std::path::{Path, PathBuf};

use super::env::Env;
use super::keywords;
use super::layers::Layers;
use super::pairs::Pairs;
use super::{ConfigError, Source};

/// Reads a whole file, as `std::fs::read` does; a seam so tests need no files on the machine.
pub(crate) type ReadFile<'a> = &'a dyn Fn(&Path) -> io::Result<Vec<u8>>;

/// The user's file in the home directory.
const USER_FILE: &str = ".pg_service.conf";

/// The system file's name inside the sysconfdir.
const SYSTEM_FILE: &str = "pg_service.conf";

/// The sysconfdir compiled into Debian's and Ubuntu's libpq5 (`strings libpq.so.5`), used when
/// `PGSYSCONFDIR` is unset. Other builds differ (upstream's default is `/usr/local/pgsql/etc`; the
/// npm build of libpq 18 that the tests use has `/usr/local/pg-build/etc/postgresql`); pgreach
/// models Debian's, the libpq most applications on Linux servers load.
const DEFAULT_SYSCONFDIR: &str = "/etc/postgresql-common";

/// `parseServiceFile` reads lines with `fgets` into a buffer of this size and refuses a line
/// that fills it (1023 bytes or more, counting the newline).
const LINE_BUFFER: usize = 1024;

/// Applies the service named by the connection string `given` (else `PGSERVICE`) to `layers`,
/// which hold the `PG*` variables: the service's settings override those, and `given`, laid
/// over afterwards, overrides the service. Without a service name, nothing happens.
pub(crate) fn apply(
    layers: &mut Layers,
    given: &Layers,
    env: Env<'_>,
    read_file: ReadFile<'_>,
) -> Result<(), ConfigError> {
    // libpq reads PGSERVICE itself, before the other variables, and takes it even when empty.
    let (name, from) = match given.get("service") {
        Some(raw) => (raw.value.clone(), raw.origin.clone()),
        None => match env("PGSERVICE") {
            Some(name) => (name, "PGSERVICE".to_string()),
            None => return Ok(()),
        },
    };
    let found = find(&name, env, read_file).map_err(|failure| {
        let searched = match failure.searched.is_empty() {
            true => String::new(),
            false => format!("; {}", failure.searched.join(", ")),
        };
        ConfigError::new(format!(
            "{} (service from {from}{searched})",
            failure.message
        ))
    })?;
    let mut origin = format!("{} [{name}]", found.file.display());
    if let Some(line) = found.ldap_line {
        origin.push_str(&format!(
            " (LDAP lookup on line {line} not made: a libpq built with LDAP may use the directory's answer instead)"
        ));
    }
    layers.apply(found.pairs, Source::Service, &origin);
    Ok(())
}

/// The definition of a service: its settings in file order, each keyword once (the first line
/// that sets it wins, as in libpq), and the file that held it.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    file: PathBuf,
    pairs: Pairs,
    /// The first `ldap` line of the section, which pgreach skipped.
    ldap_line: Option<usize>,
}

/// One `[name]` section as read: its settings and the first `ldap` line skipped.
#[derive(Debug, PartialEq, Eq, Default)]
struct Section {
    pairs: Pairs,
    ldap_line: Option<usize>,
}

/// Why a service could not be used: libpq's message, and for a service not found, the files
/// looked in.
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    message: String,
    searched: Vec<String>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            searched: Vec::new(),
        }
    }
}

/// `parseServiceInfo`: the user file, then the system file.
fn find(name: &str, env: Env<'_>, read_file: ReadFile<'_>) -> Result<Found, Failure> {
    let mut searched = Vec::new();
    // PGSERVICEFILE is opened without looking first, so a missing one is an error; the file in
    // the home directory is skipped when it does not exist.
    let user = match env("PGSERVICEFILE") {
        Some(path) => Some((PathBuf::from(path), true)),
        None => home_dir(env).map(|home| (home.join(USER_FILE), false)),
    };
    let sysconfdir = env("PGSYSCONFDIR").unwrap_or_else(|| DEFAULT_SYSCONFDIR.to_string());
    let system = (PathBuf::from(format!("{sysconfdir}/{SYSTEM_FILE}")), false);
    for (file, must_exist) in user.into_iter().chain([system]) {
        let Some(text) = open(&file, must_exist, read_file)? else {
            searched.push(format!("no file {}", file.display()));
            continue;
        };
        if let Some(Section { pairs, ldap_line }) = section(&text, name, &file)? {
            return Ok(Found {
                file,
                pairs,
                ldap_line,
            });
        }
        searched.push(format!("not in {}", file.display()));
    }
    Err(Failure {
        message: format!("definition of service \"{name}\" not found"),
        searched,
    })
}

/// libpq's home directory: `$HOME`, else the account's home (`pqGetHomeDirectory`).
fn home_dir(env: Env<'_>) -> Option<PathBuf> {
    match env("HOME") {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
        _ => nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|user| user.dir),
    }
}

/// The file's bytes; `None` when a file that may be absent is (libpq's `stat` fails). A file
/// that exists but cannot be opened is libpq's error; a directory opens and reads as empty.
fn open(file: &Path, must_exist: bool, read_file: ReadFile<'_>) -> Result<Option<Vec<u8>>, String> {
    match read_file(file) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !must_exist => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => Ok(Some(Vec::new())),
        Err(_) => Err(format!("service file \"{}\" not found", file.display())),
    }
}

/// `parseServiceFile`: the settings under the first `[name]` line, or `None` when the file has
/// no such section. Lines outside that section are not parsed (only their length is checked,
/// as libpq checks every line it reads), so a mistake elsewhere in the file does not matter.
fn section(text: &[u8], name: &str, file: &Path) -> Result<Option<Section>, String> {
    let file = file.display();
    let mut in_section = false;
    let mut found = Section::default();
    for (index, raw) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        if raw.len() >= LINE_BUFFER - 1 {
            return Err(format!("line {number} too long in service file \"{file}\""));
        }
        let line = trim(raw);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"[") {
            if in_section {
                break;
            }
            // libpq compares the name as a prefix and then wants `]`; anything after it is
            // ignored (`[db] # comment` is the section `db`).
            in_section = rest
                .strip_prefix(name.as_bytes())
                .is_some_and(|after| after.first() == Some(&b']'));
            continue;
        }
        if !in_section {
            continue;
        }
        // A libpq built with LDAP (Debian's is) looks the service up in the directory named by
        // an `ldap://` line and, if the directory answers, stops there. pgreach makes no LDAP
        // query: it reads on to the plain settings, libpq's fallback when the directory has no
        // answer, and says so in the origin.
        if line.starts_with(b"ldap") {
            found.ldap_line.get_or_insert(number);
            continue;
        }
        let syntax_error = || format!("syntax error in service file \"{file}\", line {number}");
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(syntax_error)?;
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        if key == b"service" {
            return Err(format!(
                "nested service specifications not supported in service file \"{file}\", line {number}"
            ));
        }
        // The key is not trimmed: `host = x` is the unknown keyword "host ", a syntax error.
        let keyword = std::str::from_utf8(key)
            .ok()
            .and_then(keywords::lookup)
            .ok_or_else(syntax_error)?;
        if !found.pairs.iter().any(|(k, _)| *k == keyword.name) {
            let value = String::from_utf8_lossy(value).into_owned();
            found.pairs.push((keyword.name, value));
        }
    }
    Ok(in_section.then_some(found))
}

/// The line without leading and trailing white space, as C's `isspace` sees it (which, unlike
/// Rust's `is_ascii_whitespace`, includes the vertical tab).
fn trim(line: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = line.iter().position(|b| !is_space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Input, load_with_files};
    use std::collections::HashMap;

    const HOME_FILE: &str = "/home/app/.pg_service.conf";
    const SYSTEM: &str = "/etc/postgresql-common/pg_service.conf";

    /// A machine holding `files` and no other file.
    fn files(files: &[(&str, &str)]) -> impl Fn(&Path) -> io::Result<Vec<u8>> + use<> {
        let map: HashMap<PathBuf, Vec<u8>> = files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), text.as_bytes().to_vec()))
            .collect();
        move |path| map.get(path).cloned().ok_or(io::ErrorKind::NotFound.into())
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    const HOME: (&str, &str) = ("HOME", "/home/app");

    fn parse(text: &str, name: &str) -> Result<Option<Pairs>, String> {
        section(text.as_bytes(), name, Path::new("/f")).map(|s| s.map(|s| s.pairs))
    }

    fn pairs(list: &[(&'static str, &str)]) -> Option<Pairs> {
        Some(list.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn the_first_section_of_the_name_with_libpqs_whitespace_and_comments() {
        let text = "# comment\n\n[other]\nhost=elsewhere\n  [db] anything after ]\n\
                    \t host=db.internal \r\n# port=1\nport=5433\nport=5434\nhost= spaced\n\
                    [db]\nuser=second-section\n";
        assert_eq!(
            parse(text, "db"),
            Ok(pairs(&[("host", "db.internal"), ("port", "5433")]))
        );
        assert_eq!(parse(text, "other"), Ok(pairs(&[("host", "elsewhere")])));
        assert_eq!(parse(text, "d"), Ok(None), "the name is matched whole");
        assert_eq!(parse("[db]\nhost= x\n", "db"), Ok(pairs(&[("host", " x")])));
        assert_eq!(
            parse("[db]", "db"),
            Ok(pairs(&[])),
            "an empty section is found"
        );
    }

    #[test]
    fn libpqs_errors_inside_the_section_only() {
        let err = |text: &str| parse(text, "db").unwrap_err();
        assert_eq!(
            err("[db]\nhost=a\nservice=other\n"),
            "nested service specifications not supported in service file \"/f\", line 3"
        );
        for bad in ["hots=x", "host = x", "host", "servicefile=/x"] {
            assert_eq!(
                err(&format!("[db]\n{bad}\n")),
                "syntax error in service file \"/f\", line 2",
                "{bad}"
            );
        }
        assert_eq!(
            parse("[other]\nnonsense\n[db]\nport=1\n", "db"),
            Ok(pairs(&[("port", "1")]))
        );
        assert_eq!(
            parse("[db]\nport=1\n[x]\nnonsense\n", "db"),
            Ok(pairs(&[("port", "1")]))
        );
        assert_eq!(
            parse("[db]\nldap://ldap.example/dc=x\nport=1\n", "db"),
            Ok(pairs(&[("port", "1")]))
        );
    }

    #[test]
    fn a_line_that_fills_libpqs_buffer_is_too_long_wherever_it_is() {
        let long = |n: usize| format!("#{}\n", "x".repeat(n - 2));
        assert_eq!(parse(&long(1022), "db"), Ok(None));
        assert_eq!(
            parse(&long(1023), "db").unwrap_err(),
            "line 1 too long in service file \"/f\""
        );
        let last_without_newline = format!("[db]\n#{}", "x".repeat(1022));
        assert_eq!(
            parse(&last_without_newline, "db").unwrap_err(),
            "line 2 too long in service file \"/f\""
        );
    }

    #[test]
    fn pgservicefile_replaces_the_home_file_and_must_exist() {
        let machine = files(&[
            (HOME_FILE, "[db]\nport=1\n"),
            ("/srv/services", "[db]\nport=2\n"),
        ]);
        let found = |vars: &[(&str, &str)]| find("db", &env_of(vars), &machine);
        assert_eq!(found(&[HOME]).unwrap().pairs, [("port", "1".to_string())]);
        let chosen = found(&[HOME, ("PGSERVICEFILE", "/srv/services")]).unwrap();
        assert_eq!(chosen.file, Path::new("/srv/services"));
        assert_eq!(chosen.pairs, [("port", "2".to_string())]);
        assert_eq!(
            found(&[HOME, ("PGSERVICEFILE", "/srv/missing")])
                .unwrap_err()
                .message,
            "service file \"/srv/missing\" not found"
        );
    }

    #[test]
    fn the_user_file_shadows_the_system_file() {
        let machine = files(&[
            (HOME_FILE, "[db]\nport=1\n"),
            (SYSTEM, "[db]\nport=2\nsslmode=require\n[sys]\nport=3\n"),
            ("/opt/pg/pg_service.conf", "[sys]\nport=4\n"),
        ]);
        let found = |name, vars: &[(&str, &str)]| find(name, &env_of(vars), &machine);
        let db = found("db", &[HOME]).unwrap();
        assert_eq!(
            (db.file.to_str(), db.pairs),
            (Some(HOME_FILE), vec![("port", "1".into())])
        );
        let sys = found("sys", &[HOME]).unwrap();
        assert_eq!(
            (sys.file.to_str(), sys.pairs),
            (Some(SYSTEM), vec![("port", "3".into())])
        );
        let moved = found("sys", &[HOME, ("PGSYSCONFDIR", "/opt/pg")]).unwrap();
        assert_eq!(moved.pairs, [("port", "4".to_string())]);
    }

    #[test]
    fn a_missing_service_names_the_files_searched() {
        let machine = files(&[(SYSTEM, "[other]\n")]);
        let failure = find("nope", &env_of(&[HOME]), &machine).unwrap_err();
        assert_eq!(failure.message, "definition of service \"nope\" not found");
        assert_eq!(
            failure.searched,
            [format!("no file {HOME_FILE}"), format!("not in {SYSTEM}")]
        );
    }

    fn load(
        input: Input,
        vars: &[(&str, &str)],
        machine: &[(&str, &str)],
    ) -> Result<Config, String> {
        load_with_files(&input, &env_of(vars), &|_| false, &files(machine))
            .map_err(|e| e.to_string())
    }

    fn setting(config: &Config, name: &str) -> (String, Source, String) {
        let s = config.setting(name).unwrap_or_else(|| panic!("no {name}"));
        (s.value.clone(), s.source, s.origin.clone())
    }

    const DB: (&str, &str) = (HOME_FILE, "[db]\nhost=svc-host\nport=6000\nuser=svc-user\n");

    #[test]
    fn service_beats_pg_variables_and_loses_to_the_connection_string() {
        let input = Input {
            target: Some("service=db port=7000".into()),
            ..Input::default()
        };
        let vars = [
            HOME,
            ("PGHOST", "env-host"),
            ("PGUSER", "env-user"),
            ("PGDATABASE", "env-db"),
        ];
        let config = load(input, &vars, &[DB]).unwrap();
        let origin = format!("{HOME_FILE} [db]");
        assert_eq!(
            setting(&config, "host"),
            ("svc-host".into(), Source::Service, origin.clone())
        );
        assert_eq!(
            setting(&config, "port"),
            ("7000".into(), Source::Argument, "conninfo".into())
        );
        assert_eq!(
            setting(&config, "user"),
            ("svc-user".into(), Source::Service, origin)
        );
        assert_eq!(
            setting(&config, "dbname"),
            ("env-db".into(), Source::Env, "PGDATABASE".into())
        );
        assert_eq!(
            setting(&config, "service"),
            ("db".into(), Source::Argument, "conninfo".into())
        );
    }

    #[test]
    fn pgservice_names_the_service_when_the_string_does_not() {
        let input = Input {
            host: Some("flag-host".into()),
            ..Input::default()
        };
        let config = load(input, &[HOME, ("PGSERVICE", "db"), ("PGPORT", "1")], &[DB]).unwrap();
        assert_eq!(setting(&config, "host").1, Source::Flag);
        assert_eq!(setting(&config, "port").0, "6000");
        assert_eq!(
            setting(&config, "service"),
            ("db".into(), Source::Env, "PGSERVICE".into())
        );
        // The conninfo's service wins over PGSERVICE.
        let input = Input {
            target: Some("service=other".into()),
            ..Input::default()
        };
        let err = load(input, &[HOME, ("PGSERVICE", "db")], &[DB]).unwrap_err();
        assert!(
            err.starts_with("definition of service \"other\" not found (service from conninfo; "),
            "{err}"
        );
    }

    #[test]
    fn service_errors_stop_the_run_with_libpqs_words() {
        let err = load(Input::default(), &[HOME, ("PGSERVICE", "x")], &[]).unwrap_err();
        assert_eq!(
            err,
            format!(
                "definition of service \"x\" not found (service from PGSERVICE; no file \
                 {HOME_FILE}, no file {SYSTEM})"
            )
        );
        let err = load(Input::default(), &[HOME, ("PGSERVICE", "")], &[]).unwrap_err();
        assert!(
            err.starts_with("definition of service \"\" not found"),
            "{err}"
        );
        let nested = (HOME_FILE, "[db]\nservice=other\n");
        let input = Input {
            target: Some("postgres://h/?service=db".into()),
            ..Input::default()
        };
        assert_eq!(
            load(input, &[HOME], &[nested]).unwrap_err(),
            format!(
                "nested service specifications not supported in service file \"{HOME_FILE}\", \
                 line 2 (service from uri)"
            )
        );
    }

    #[test]
    fn a_skipped_ldap_line_is_noted_in_the_origin() {
        let ldap = (HOME_FILE, "[db]\nldap://ldap.example/dc=x?y\nport=6000\n");
        let config = load(Input::default(), &[HOME, ("PGSERVICE", "db")], &[ldap]).unwrap();
        let (value, source, origin) = setting(&config, "port");
        assert_eq!((value.as_str(), source), ("6000", Source::Service));
        assert!(
            origin.starts_with(&format!("{HOME_FILE} [db] (LDAP lookup on line 2 not made")),
            "{origin}"
        );
    }

    #[test]
    fn no_service_reads_no_file() {
        let refuse = |p: &Path| -> io::Result<Vec<u8>> { panic!("read {}", p.display()) };
        let config = load_with_files(&Input::default(), &env_of(&[HOME]), &|_| false, &refuse);
        assert!(config.is_ok());
    }
}
