//! `gateway policy check`, run as the real binary over a seeded data directory.

use std::path::Path;
use std::process::Command;

fn gateway(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_BACKTRACE")
        .env("RUST_LOG", "warn")
        .output()
        .expect("gateway runs")
}

#[test]
fn check_accepts_the_demo_policy_and_names_each_problem_of_a_bad_one() {
    let data = tempfile::tempdir().expect("data dir");
    let seeded = gateway(&["seed", "--scale-factor", "0.01"], data.path());
    assert!(seeded.status.success(), "{seeded:?}");

    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");
    let ok = gateway(&["policy", "check", demo], data.path());
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("rules valid"),
        "{ok:?}"
    );

    let dir = tempfile::tempdir().expect("policy dir");
    std::fs::write(
        dir.path().join("policy.csv"),
        "g, ann, role:a\n\
         p, role:a, lake.tpch.*, select, allow\n\
         p2, role:a, lake.tpch.nation, \"n_name + 1\"\n\
         p2, role:a, lake.tpch.region, \"r_nope = 'EUROPE'\"\n\
         p3, role:a, lake.tpch.customer.c_fax, mask, redact\n\
         p3, role:a, lake.tpch.customer.c_phone, mask, sql:c_phone * 2\n",
    )
    .expect("write");
    let bad = gateway(
        &["policy", "check", &dir.path().display().to_string()],
        data.path(),
    );
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    for line in [
        "policy.csv:3:",
        "policy.csv:4:",
        "policy.csv:5:",
        "policy.csv:6:",
    ] {
        assert!(stderr.contains(line), "{line} missing from:\n{stderr}");
    }
    assert!(
        stderr.contains("r_nope") && stderr.contains("c_fax"),
        "{stderr}"
    );

    // A syntax error, or a rule that can never apply, is reported the same way.
    std::fs::write(
        dir.path().join("policy.csv"),
        "p2, role:b, lake.tpch.nation, \"n_regionkey = 1\"\n",
    )
    .expect("write");
    let never = gateway(
        &["policy", "check", &dir.path().display().to_string()],
        data.path(),
    );
    assert_eq!(never.status.code(), Some(1), "{never:?}");
    assert!(
        String::from_utf8_lossy(&never.stderr).contains("policy.csv:1: the row filter"),
        "{never:?}"
    );
}
