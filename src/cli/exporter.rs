//! The `exporter` subcommand's flags, turned into the command's plain options.

use crate::commands::exporter::ExporterOptions;
use clap::ArgAction;

/// Serve Prometheus: probe the target each scrape names (/probe?target=…&module=…).
///
/// Prometheus schedules the probes with the multi-target pattern (__param_target); each scrape
/// runs one probe under a module of the configuration file and answers probe_success,
/// probe_duration_seconds, the per-sslmode outcome, per-address phases and findings. Only targets
/// in the file's allow list are probed (without one: loopback only). SIGHUP reloads the file.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct ExporterArgs {
    /// Address to serve on; 0.0.0.0:9932 serves other hosts too.
    #[arg(long, default_value = "127.0.0.1:9932", value_name = "HOST:PORT")]
    pub listen: String,

    /// YAML file with the allow list and the modules (default: one `default` module with
    /// libpq's defaults, loopback targets only).
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Probes running at once; over it a scrape waits up to a second, then gets 503.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub max_concurrent: usize,

    /// Log more: -v refusals, -vv every probe.
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

impl From<ExporterArgs> for ExporterOptions {
    fn from(a: ExporterArgs) -> ExporterOptions {
        ExporterOptions {
            listen: a.listen,
            config: a.config,
            max_concurrent: a.max_concurrent,
            verbose: a.verbose,
        }
    }
}
