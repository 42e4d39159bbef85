//! Usage errors: bad input exits 2 with a message naming the offending value, and never echoes
//! a password. No server is needed: these fail before any connection.

mod support;

use support::run_pgreach;

/// Arguments, environment, and a text the error message must contain.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_values_exit_2_naming_the_value() {
    let cases: &[Case] = &[
        (&["-p", "0", "127.0.0.1"], &[], "\"0\""),
        (&["-p", "70000", "127.0.0.1"], &[], "\"70000\""),
        (&["127.0.0.1:70000"], &[], "70000"),
        (&["--sslmode", "requre", "127.0.0.1"], &[], "\"requre\""),
        (&["postgres://[::1:5432/db"], &[], "postgres://[::1:5432/db"),
        (&["host=x nonsense=1"], &[], "nonsense"),
        (&["--connect-timeout", "soon", "127.0.0.1"], &[], "\"soon\""),
        (&["completions", "tcsh"], &[], "'tcsh'"),
    ];
    for (args, env, needle) in cases {
        let run = run_pgreach(None, args, env);
        assert_eq!(
            run.status, 2,
            "{args:?}: stdout={} stderr={}",
            run.stdout, run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(
            run.stderr.contains(needle),
            "{args:?}: stderr {:?} lacks {needle}",
            run.stderr
        );
    }
}

#[test]
fn a_malformed_uri_with_a_password_does_not_echo_it() {
    let run = run_pgreach(None, &["postgres://app:hunter2@[::1:5432/db"], &[]);
    assert_eq!(run.status, 2);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}

#[test]
fn help_and_version_exit_0() {
    let run = run_pgreach(None, &["--help"], &[]);
    assert_eq!(run.status, 0);
    assert!(run.stdout.contains("--sslmode"));
    let run = run_pgreach(None, &["--version"], &[]);
    assert_eq!(run.status, 0);
    assert!(run.stdout.starts_with("pgreach "));
}

/// `sweep` records no connections and logs in nowhere, `watch` records none: the flags that
/// would ask for it are refused up front instead of being silently ignored.
#[test]
fn single_probe_flags_are_refused_by_sweep_and_watch() {
    let cases: &[&[&str]] = &[
        &["sweep", "-", "--transcript", "t.txt"],
        &["sweep", "-", "--pcap", "p.pcapng"],
        &["sweep", "-", "--keylog", "k.log"],
        &["sweep", "-", "--login"],
        &["watch", "127.0.0.1", "--pcap", "p.pcapng"],
    ];
    for args in cases {
        let run = run_pgreach(None, args, &[]);
        assert_eq!(run.status, 2, "{args:?}: stderr={}", run.stderr);
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        assert!(
            run.stderr.contains(flag) && run.stderr.contains("single probe"),
            "{args:?}: {}",
            run.stderr
        );
    }
}
