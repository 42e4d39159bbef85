//! The manual page, pgreach(1): clap_mangen renders the options from the same definitions as the
//! parser; this file adds what clap does not know (each subcommand's own options, the exit
//! codes, the environment and the files read), in the sections psql(1) has.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Inline, Roff, bold, italic, roman};

use super::Cli;
use super::completions::write_stdout;
use crate::commands::{EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE};

/// The hidden subcommand's name: `pgreach man | gzip -9n > pgreach.1.gz`, for packagers.
pub(super) const NAME: &str = "man";

/// `pgreach man`, which `cli::main` adds to the parser only.
pub(super) fn command() -> clap::Command {
    clap::Command::new(NAME)
        .hide(true)
        .about("Print the manual page (roff) on stdout")
        .disable_help_flag(true)
}

pub(super) fn main() -> ExitCode {
    write_stdout(&render())
}

/// The whole page as roff source. Every section is rendered into memory, where writing cannot
/// fail, so the `io::Result`s of the renderers are ignored.
pub fn render() -> Vec<u8> {
    let mut cmd = Cli::command();
    // Building sets each subcommand's bin name ("pgreach sweep") for its usage line.
    cmd.build();
    // clap_mangen writes an empty date as nothing at all, which shifts the .TH arguments.
    let date = Some(super::COMMIT_DATE)
        .filter(|d| !d.is_empty())
        .unwrap_or(env!("CARGO_PKG_VERSION"));
    let man = Man::new(cmd.clone()).date(date).manual("User Commands");
    let mut out = Vec::new();
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    synopsis(&mut out, &cmd);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    subcommands(&mut out, &cmd);
    let mut roff = Roff::new();
    exit_status(&mut roff);
    definitions(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    definitions(&mut roff, "FILES", FILES);
    see_also(&mut roff);
    let _ = roff.to_writer(&mut out);
    let _ = man.render_version_section(&mut out);
    out
}

/// The usage lines of the command and its subcommands, like clap's `Usage:` (clap_mangen's own
/// synopsis spells out all thirty options and hides the subcommands' arguments).
fn synopsis(out: &mut Vec<u8>, cmd: &clap::Command) {
    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    let main = cmd.clone().render_usage().to_string();
    let lines = main
        .lines()
        .take(1)
        .map(str::to_owned)
        .chain(visible_subcommands(cmd).map(|s| s.clone().render_usage().to_string()));
    for line in lines {
        let line = line.trim_start_matches("Usage: ").to_owned();
        let (name, rest) = split_command(&line);
        roff.text([bold(name), roman(rest)]);
        roff.control("br", []);
    }
    let _ = roff.to_writer(out);
}

/// "pgreach sweep [OPTIONS] [FILE]" → ("pgreach sweep", " [OPTIONS] [FILE]"): the words before
/// the first bracket are the command, set in bold.
fn split_command(usage: &str) -> (String, String) {
    let at = usage.find([' ', '\t']).map_or(usage.len(), |first| {
        usage[first..]
            .find(['[', '<'])
            .map_or(usage.len(), |i| first + i)
    });
    let (name, rest) = usage.split_at(at);
    (name.trim_end().to_owned(), format!(" {rest}"))
}

/// The subcommands that get a section: not the hidden ones, not clap's `help`.
fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One subsection per visible subcommand: its usage, its description, and the options that are
/// its own (the probe options it shares with the top level are described once, above).
fn subcommands(out: &mut Vec<u8>, cmd: &clap::Command) {
    let mut head = Roff::new();
    head.control("SH", ["SUBCOMMANDS"]);
    head.text([roman(
        "sweep and watch also take every option above, as the defaults for each target.",
    )]);
    let _ = head.to_writer(out);
    let shared: Vec<_> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for sub in visible_subcommands(cmd) {
        let usage = sub.clone().render_usage().to_string();
        let mut title = Roff::new();
        title.control("SS", [usage.trim_start_matches("Usage: ")]);
        let _ = title.to_writer(out);
        // Shared options hidden: clap_mangen leaves hidden arguments out.
        let own = sub.clone().mut_args(|a| {
            let shared = !a.is_positional() && shared.contains(a.get_id());
            a.hide(shared)
        });
        let mut body = Vec::new();
        let man = Man::new(own);
        let _ = man.render_description_section(&mut body);
        let _ = man.render_options_section(&mut body);
        // Their .SH headings would end the subsection that their bodies belong in.
        for line in String::from_utf8_lossy(&body).lines() {
            if !line.starts_with(".SH ") {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        }
    }
}

/// The exit codes, from the constants the commands return.
fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    let codes = [
        (
            EXIT_OK,
            "No finding of error severity (with --fail-on warning: no warning either).",
        ),
        (
            EXIT_FINDINGS,
            "At least one error finding (or warning, with --fail-on warning): the report says \
             why the application cannot connect.",
        ),
        (
            EXIT_USAGE,
            "Usage error: a bad flag, target, environment variable or service file entry.",
        ),
        (
            EXIT_INTERNAL,
            "Internal error: the report, transcript, pcap or key log could not be written, or \
             the sweep input could not be read.",
        ),
        (
            EXIT_INTERRUPTED,
            "sweep was interrupted (SIGINT); the targets finished so far were written.",
        ),
    ];
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(meaning)]);
    }
}

/// A section of `.TP` entries: a term in bold, then its meaning.
fn definitions(roff: &mut Roff, section: &str, entries: &[(&str, &str)]) {
    roff.control("SH", [section]);
    for (term, meaning) in entries {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*meaning)]);
    }
}

fn see_also(roff: &mut Roff) {
    roff.control("SH", ["SEE ALSO"]);
    let mut line: Vec<Inline> = [
        ("psql", "1"),
        ("pg_isready", "1"),
        ("openssl-s_client", "1"),
    ]
    .iter()
    .enumerate()
    .flat_map(|(i, (page, section))| {
        let sep = if i == 0 { "" } else { ", " };
        [roman(sep), bold(*page), roman(format!("({section})"))]
    })
    .collect();
    line.extend([
        roman(". The README at "),
        italic("https://github.com/pgreach/pgreach"),
        roman(" documents the report formats and every finding."),
    ]);
    roff.text(line);
}

/// What pgreach reads from the environment, in the order libpq's documentation lists it.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "PGHOST, PGHOSTADDR, PGPORT, PGUSER, PGDATABASE",
        "Where to connect and as whom, as for psql; flags, TARGET and DATABASE_URL win.",
    ),
    (
        "PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGSSLNEGOTIATION, PGSSLSNI",
        "The TLS settings libpq would use; the sslmode matrix and the findings follow them.",
    ),
    (
        "PGCONNECT_TIMEOUT",
        "Seconds allowed per address (0, libpq's \"forever\", is replaced by 10).",
    ),
    (
        "PGPASSWORD, PGPASSFILE",
        "The password for --login, and the password file (default ~/.pgpass).",
    ),
    (
        "PGSERVICE, PGSERVICEFILE, PGSYSCONFDIR",
        "The connection service to read, the user's service file (default \
         ~/.pg_service.conf) and the directory of the system-wide pg_service.conf.",
    ),
    (
        "other PG* variables",
        "Every other libpq variable (PGAPPNAME, PGOPTIONS, PGTARGETSESSIONATTRS, \
         PGREQUIREAUTH, PGCHANNELBINDING, PGGSSENCMODE, PGSSLCRL, ...) is read and reported with \
         its source, and judged where it changes what the application would see.",
    ),
    (
        "DATABASE_URL",
        "A postgres:// URI, as many application frameworks read it (--env libpq, the default).",
    ),
    (
        "DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE, DB_SSLROOTCERT",
        "Django-style settings, read instead of DATABASE_URL with --env django.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, --color auto prints no color.",
    ),
    (
        "SSLKEYLOGFILE",
        "Append TLS secrets to this file, as --keylog does (the flag wins).",
    ),
    (
        "RUST_LOG",
        "Diagnostic logging on stderr (tracing's filter syntax, e.g. pgreach=debug); \
         overrides -v.",
    ),
    (
        "HOME",
        "Where ~/.pgpass, ~/.pg_service.conf and ~/.postgresql are looked for.",
    ),
];

/// The files pgreach reads on its own, the ones libpq would read for the application.
const FILES: &[(&str, &str)] = &[
    (
        "~/.pgpass",
        "The password file for --login (PGPASSFILE overrides it); entries are matched like \
         libpq's.",
    ),
    (
        "~/.postgresql/root.crt",
        "libpq's default CA certificates for sslmode verify-ca and verify-full; \
         --sslrootcert (or sslrootcert=system) overrides it.",
    ),
    (
        "~/.postgresql/root.crl",
        "libpq's default certificate revocation list (sslcrl and sslcrldir override it), read \
         next to the root file; pgreach applies it as libpq does wherever the chain is checked.",
    ),
    (
        "~/.postgresql/postgresql.crt, ~/.postgresql/postgresql.key",
        "libpq's default client certificate and key, offered if the server asks for one.",
    ),
    (
        "~/.pg_service.conf",
        "The user's connection service file (PGSERVICEFILE overrides it).",
    ),
    (
        "pg_service.conf",
        "The system-wide service file in PGSYSCONFDIR, else /etc/postgresql-common (Debian's \
         libpq), consulted when the user's file has no such service.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        String::from_utf8(render()).expect("the page is UTF-8")
    }

    #[test]
    fn page_has_psql_like_sections_and_every_subcommand() {
        let page = page();
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "\"EXIT STATUS\"",
            "ENVIRONMENT",
            "FILES",
            "\"SEE ALSO\"",
            "VERSION",
        ] {
            assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
        }
        for sub in ["pgreach sweep", "pgreach watch", "pgreach completions"] {
            assert!(page.contains(&format!(".SS \"{sub}")), "no {sub}:\n{page}");
        }
        assert!(!page.contains(".SS \"pgreach man"), "man is hidden");
        assert!(
            !page.contains(".SS \"pgreach help"),
            "help needs no section"
        );
    }

    #[test]
    fn subcommand_options_and_exit_codes_are_listed() {
        let page = page();
        for flag in ["concurrency", "interval", "sslrootcert"] {
            assert!(page.contains(&format!("\\-\\-{flag}")), "no --{flag}");
        }
        for code in [
            EXIT_OK,
            EXIT_FINDINGS,
            EXIT_USAGE,
            EXIT_INTERNAL,
            EXIT_INTERRUPTED,
        ] {
            assert!(
                page.contains(&format!("\\fB{code}\\fR")),
                "no exit code {code}"
            );
        }
        for word in [
            "PGSERVICEFILE",
            "DATABASE_URL",
            "DB_SSLROOTCERT",
            "NO_COLOR",
            "RUST_LOG",
        ] {
            assert!(page.contains(word), "no {word}");
        }
    }
}
