//! The `pgreach` binary: parse arguments, run the probe, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    pgreach::cli::main()
}
