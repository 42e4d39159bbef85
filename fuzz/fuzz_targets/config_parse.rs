//! The target parser (host, host:port, [v6]:port, URI, conninfo, socket path) and the libpq
//! environment, on arbitrary strings: an error is fine, a panic is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgreach::config::Input;
use pgreach::config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Before the first NUL: the target; after it: the value of a few environment variables.
    let mut parts = text.splitn(2, '\0');
    let target = parts.next().unwrap_or_default().to_owned();
    let env_value = parts.next().map(str::to_owned);
    let args = Input {
        target: Some(target),
        ..Input::default()
    };
    let env = |key: &str| match key {
        "PGHOST" | "PGPORT" | "PGSSLMODE" | "PGHOSTADDR" | "DATABASE_URL" | "PGCONNECT_TIMEOUT" => {
            env_value.clone()
        }
        _ => None,
    };
    let _ = config::load_with(&args, &env, &|_| false);
});
