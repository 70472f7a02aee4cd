//! `gateway policy check|test|diff`, run as the real binary over a seeded data
//! directory.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

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

/// One data directory seeded at SF 0.01 for every test of this file.
fn seeded() -> &'static Path {
    static DATA: OnceLock<tempfile::TempDir> = OnceLock::new();
    DATA.get_or_init(|| {
        let data = tempfile::tempdir().expect("data dir");
        let seeded = gateway(&["seed", "--scale-factor", "0.01"], data.path());
        assert!(seeded.status.success(), "{seeded:?}");
        data
    })
    .path()
}

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config");

/// The demo policy with the analyst's phone mask changed, the balance denial and the
/// supplier filter dropped, and nation denied.
fn edited_demo_policy() -> tempfile::TempDir {
    let demo = std::fs::read_to_string(format!("{DEMO}/policy.csv")).expect("demo policy");
    let edited: String = demo
        .lines()
        .filter(|line| {
            !line.starts_with("p2, role:analyst, lake.tpch.supplier,")
                && !line.starts_with("p3, role:analyst, lake.tpch.customer.c_acctbal,")
        })
        .map(|line| {
            line.replace(
                "lake.tpch.customer.c_phone, mask, show-last-4",
                "lake.tpch.customer.c_phone, mask, hash",
            ) + "\n"
        })
        .collect::<String>()
        + "p, role:analyst, lake.tpch.nation, select, deny\n";
    let dir = tempfile::tempdir().expect("policy dir");
    std::fs::write(dir.path().join("policy.csv"), edited).expect("write");
    std::fs::copy(format!("{DEMO}/tags.csv"), dir.path().join("tags.csv")).expect("tags");
    dir
}

#[test]
fn check_accepts_the_demo_policy_and_names_each_problem_of_a_bad_one() {
    let data = seeded();

    let ok = gateway(&["policy", "check", DEMO], data);
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
        data,
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
        data,
    );
    assert_eq!(never.status.code(), Some(1), "{never:?}");
    assert!(
        String::from_utf8_lossy(&never.stderr).contains("policy.csv:1: the row filter"),
        "{never:?}"
    );
}

#[test]
fn test_runs_the_demo_cases_and_reports_each_broken_expectation() {
    let cases = format!("{DEMO}/policy_cases.toml");
    let ok = gateway(&["policy", "test", DEMO, &cases], seeded());
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout.contains("11 cases: 11 passed, 0 failed"), "{stdout}");

    // The same cases against an edited policy: exactly the cases it breaks fail, each
    // saying why.
    let edited = edited_demo_policy();
    let run = gateway(
        &[
            "policy",
            "test",
            &edited.path().display().to_string(),
            &cases,
        ],
        seeded(),
    );
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failures.len(), 3, "{stdout}");
    assert!(
        failures[0].contains("Europe's nations") && failures[0].contains("42501"),
        "{stdout}"
    );
    assert!(
        failures[1].contains("column c_acctbal is in the result"),
        "{stdout}"
    );
    assert!(failures[2].contains("allowed, expected denied"), "{stdout}");
    assert!(stdout.contains("11 cases: 8 passed, 3 failed"), "{stdout}");

    // A case whose rows differ names what came back.
    let dir = tempfile::tempdir().expect("cases dir");
    let wrong = dir.path().join("cases.toml");
    std::fs::write(
        &wrong,
        "[[case]]\nuser = \"analyst\"\nsql = \"SELECT r_name FROM lake.tpch.region\"\n\
         rows = [[\"ASIA\"]]\n",
    )
    .expect("write");
    let run = gateway(
        &["policy", "test", DEMO, &wrong.display().to_string()],
        seeded(),
    );
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("rows [[\"EUROPE\"]], expected [[\"ASIA\"]]"),
        "{run:?}"
    );

    // A cases file that does not parse is an error naming it, not a pass.
    std::fs::write(&wrong, "[[case]]\nuser = \"analyst\"\nsqll = \"x\"\n").expect("write");
    let run = gateway(
        &["policy", "test", DEMO, &wrong.display().to_string()],
        seeded(),
    );
    assert!(!run.status.success(), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("sqll"),
        "{run:?}"
    );
}

#[test]
fn diff_names_what_each_principal_gains_and_loses() {
    let edited = edited_demo_policy();
    let new = edited.path().display().to_string();
    let same = gateway(&["policy", "diff", DEMO, DEMO, "--exit-code"], seeded());
    assert!(same.status.success(), "{same:?}");
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("no principal gains or loses anything"),
        "{same:?}"
    );

    let run = gateway(&["policy", "diff", DEMO, &new, "--exit-code"], seeded());
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let block: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "analyst")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(
        block,
        [
            "  ~ lake.tpch.customer.c_phone: mask hash (was mask show-last-4)",
            "  - lake.tpch.customer.c_acctbal: deny removed (the column is shown as stored)",
            "  - lake.tpch.nation: no longer readable (was rows where (n_regionkey = ${user.region_key}))",
            "  ~ lake.tpch.supplier: every row (was rows where (s_nationkey IN (SELECT nationkey FROM lake.security.entitlements WHERE user_name = ${user.name})))",
        ],
        "{stdout}"
    );
    // Principals the edit does not touch are not listed.
    for untouched in ["admin", "demo", "auditor", "role:reader"] {
        assert!(!stdout.lines().any(|l| l == untouched), "{stdout}");
    }
    // Without the exit-code flag a difference is not a failure.
    let run = gateway(&["policy", "diff", DEMO, &new], seeded());
    assert!(run.status.success(), "{run:?}");
}
