//! `pgreach completions SHELL`: the shell completion script, generated from the same clap
//! definitions as the parser, so it never offers a flag that does not exist.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;
use crate::commands::{EXIT_INTERNAL, EXIT_OK};

/// Print the completion script for SHELL on stdout.
///
/// Load it for the current shell (bash: `source <(pgreach completions bash)`) or save it where
/// the shell looks: /usr/share/bash-completion/completions/pgreach,
/// /usr/share/zsh/vendor-completions/_pgreach, /usr/share/fish/vendor_completions.d/pgreach.fish
/// (where the Debian package installs them), or the user's own directories.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// The completion script for `shell`, as bytes.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    // clap_complete panics on a failed write, so it writes to memory; stdout comes after.
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pgreach", &mut out);
    out
}

pub(super) fn main(args: &CompletionsArgs) -> ExitCode {
    write_stdout(&script(args.shell))
}

/// Writes `bytes` to stdout; a closed pipe (`pgreach completions bash | head`) is the reader's
/// choice, any other failure an internal error.
pub(super) fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("pgreach: cannot write to stdout: {e}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(shell: Shell) -> String {
        String::from_utf8(script(shell)).expect("completion scripts are UTF-8")
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands_and_flags() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let s = text(shell);
            for word in ["sweep", "watch", "completions", "sslmode", "concurrency"] {
                assert!(s.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn the_hidden_man_subcommand_is_not_offered() {
        let s = text(Shell::Fish);
        assert!(s.contains("-a \"sweep\""), "{s}");
        assert!(!s.contains("-a \"man\""), "{s}");
    }
}
