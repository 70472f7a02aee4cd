//! `gateway semantic check`, `diff` and `compile`, run as the real binary.

use std::process::Command;

fn gateway(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("gateway runs")
}

#[test]
fn check_accepts_the_demo_models_and_names_each_problem_of_bad_ones() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/semantic");
    let ok = gateway(&["semantic", "check", demo]);
    assert!(ok.status.success(), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("4 models valid"), "{stdout}");

    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("bad.yml"),
        "models:\n  - name: a\n    table: l.s.t\n    measures:\n      - name: m\n        type: derived\n        sql: missing * 2\n",
    )
    .expect("write");
    let bad = gateway(&["semantic", "check", &dir.path().display().to_string()]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("bad.yml:7:")
            && stderr.contains("measures[].sql")
            && stderr.contains("missing"),
        "{stderr}"
    );
}

#[test]
fn compile_prints_the_sql_over_the_base_tables() {
    let out = gateway(&[
        "semantic",
        "compile",
        "SELECT status, MEASURE(revenue) FROM semantic.orders GROUP BY 1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let sql = String::from_utf8_lossy(&out.stdout);
    assert!(sql.contains("sum(orders.o_totalprice)"), "{sql}");
    assert!(sql.contains("FROM lake.tpch.orders AS orders"), "{sql}");
    let wrong = gateway(&["semantic", "compile", "SELECT nope FROM semantic.orders"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("column nope does not exist"));
}

#[test]
fn diff_names_the_members_a_change_adds_removes_and_changes() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/semantic");
    let same = gateway(&["semantic", "diff", demo, demo, "--exit-code"]);
    assert!(same.status.success(), "{same:?}");
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("the models are the same"),
        "{same:?}"
    );

    let text = std::fs::read_to_string(format!("{demo}/tpch.yml")).expect("demo models");
    let edited = text
        .replacen(
            "      - name: priority\n        sql: o_orderpriority\n",
            "",
            1,
        )
        .replacen(
            "        type: sum\n        sql: o_totalprice\n        description: Total price",
            "        type: avg\n        sql: o_totalprice\n        description: Total price",
            1,
        );
    assert_ne!(edited, text, "the demo models changed: update this test");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("tpch.yml"), edited).expect("write");
    let new = dir.path().display().to_string();
    let run = gateway(&["semantic", "diff", demo, &new, "--exit-code"]);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout)
            .lines()
            .collect::<Vec<_>>(),
        [
            "- orders.priority: dimension string = orders.o_orderpriority",
            "~ orders.revenue: measure avg of orders.o_totalprice (was measure sum of orders.o_totalprice)",
        ]
    );

    // Models that do not validate are an error, not a difference.
    std::fs::write(dir.path().join("tpch.yml"), "models: [").expect("write");
    let bad = gateway(&["semantic", "diff", demo, &new]);
    assert!(!bad.status.success(), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("models not valid"),
        "{bad:?}"
    );
}
