//! libpq's password file (`PGPASSFILE`, else `~/.pgpass`): `host:port:database:user:password`
//! lines, `*` matching anything, `\` escaping `:` and `\`, the first matching line winning, and
//! the file ignored with a warning when group or others can read it (`passwordFromFile` in
//! libpq's fe-connect.c).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Secret;

/// libpq's compiled-in socket directory on Debian: a host equal to it matches `localhost`.
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// A password file read once, for every address of the run.
#[derive(Debug, Clone, Default)]
pub struct Passfile {
    pub path: Option<PathBuf>,
    /// Lines in file order, comments and blank lines dropped, with their line numbers.
    entries: Vec<(usize, String)>,
    /// Why the file was ignored, in libpq's words.
    pub warnings: Vec<String>,
}

impl Passfile {
    /// Reads `path` if it exists, refusing it as libpq does when it is not a plain file or has
    /// group or world permissions. A missing file is silently ignored, as in libpq.
    pub fn read(path: &Path) -> Passfile {
        let mut pf = Passfile {
            path: Some(path.to_path_buf()),
            ..Passfile::default()
        };
        let Ok(meta) = std::fs::metadata(path) else {
            return pf;
        };
        let shown = path.display();
        if !meta.is_file() {
            pf.warnings
                .push(format!("password file \"{shown}\" is not a plain file"));
            return pf;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            pf.warnings.push(format!(
                "password file \"{shown}\" has group or world access; permissions should be u=rw (0600) or less (mode {:04o}: ignored, as libpq does)",
                meta.mode() & 0o7777
            ));
            return pf;
        }
        // Read errors are like a missing file to libpq: no password from it.
        if let Ok(text) = std::fs::read(path) {
            let text = String::from_utf8_lossy(&text);
            pf.entries = text
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_owned()))
                .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
                .collect();
        }
        pf
    }

    /// The password of the first line matching this host, port, database and user, with its
    /// line number. An empty host, or libpq's default socket directory, matches `localhost`.
    pub fn lookup(&self, host: &str, port: u16, db: &str, user: &str) -> Option<(Secret, usize)> {
        let host = if host.is_empty() || host == DEFAULT_SOCKET_DIR {
            "localhost"
        } else {
            host
        };
        let port = port.to_string();
        self.entries.iter().find_map(|(n, line)| {
            let rest = [host, port.as_str(), db, user]
                .iter()
                .try_fold(line.as_str(), |rest, token| match_field(rest, token))?;
            Some((Secret::new(unescape(rest)), *n))
        })
    }
}

/// `pwdfMatchesString`: if the field at the start of `line` is `*` or equals `token` (after
/// unescaping), returns the rest of the line after its `:`.
fn match_field<'a>(line: &'a str, token: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut want = token.chars();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        let (c, escaped) = if c == '\\' {
            match chars.next() {
                Some((_, next)) => (next, true),
                None => return None,
            }
        } else {
            (c, false)
        };
        if c == ':' && !escaped {
            return want.next().is_none().then(|| &line[i + 1..]);
        }
        if want.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to an unescaped `:` or the end, with `\x` meaning `x`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    fn pw(pf: &Passfile, host: &str, port: u16, db: &str, user: &str) -> Option<(String, usize)> {
        pf.lookup(host, port, db, user)
            .map(|(s, n)| (s.expose().to_owned(), n))
    }

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let (_d, path) = file(
            "# comment\n\
             db.example:5432:app:app:first\n\
             *:5432:*:app:sec\\:ret\\\\x:ignored\n\
             host\\:odd:*:*:*:colon-host\n\
             localhost:*:*:*:local\n",
            0o600,
        );
        let pf = Passfile::read(&path);
        assert!(pf.warnings.is_empty());
        assert_eq!(
            pw(&pf, "db.example", 5432, "app", "app"),
            Some(("first".into(), 2))
        );
        assert_eq!(
            pw(&pf, "other", 5432, "x", "app"),
            Some(("sec:ret\\x".into(), 3))
        );
        assert_eq!(
            pw(&pf, "host:odd", 1, "d", "u"),
            Some(("colon-host".into(), 4))
        );
        assert_eq!(pw(&pf, "", 5433, "d", "u"), Some(("local".into(), 5)));
        assert_eq!(
            pw(&pf, "/var/run/postgresql", 5433, "d", "u"),
            Some(("local".into(), 5))
        );
        assert_eq!(pw(&pf, "other", 5433, "x", "app"), None);
        // A prefix of the field does not match.
        assert_eq!(pw(&pf, "db.exampl", 5432, "app", "bob"), None);
    }

    #[test]
    fn group_or_world_readable_file_is_ignored_with_a_warning() {
        let (_d, path) = file("*:*:*:*:secret\n", 0o644);
        let pf = Passfile::read(&path);
        assert_eq!(pw(&pf, "h", 1, "d", "u"), None);
        assert_eq!(pf.warnings.len(), 1);
        assert!(
            pf.warnings[0].contains("group or world access"),
            "{:?}",
            pf.warnings
        );
        assert!(!pf.warnings[0].contains("secret"));
    }

    #[test]
    fn missing_file_is_silent() {
        let pf = Passfile::read(Path::new("/nonexistent/pgpass"));
        assert!(pf.warnings.is_empty());
        assert_eq!(pw(&pf, "h", 1, "d", "u"), None);
    }
}
