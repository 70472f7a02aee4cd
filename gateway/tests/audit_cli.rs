//! `gateway audit verify`, run as the real binary over a trail the audit writer wrote.

use std::process::Command;

use lakegate_security::audit::{AuditConfig, AuditEvent, AuditLog};

fn verify(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["audit", "verify"])
        .arg(path)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("gateway runs")
}

#[test]
fn verify_accepts_the_written_trail_and_names_the_line_a_change_breaks() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("audit.jsonl");
    let config = AuditConfig {
        path: Some(path.clone()),
        // Small files: the chain has to run across rotations.
        max_bytes: 600,
        hash_sql: false,
        max_sql_bytes: 64,
        retention_days: 30,
        fsync: true,
    };
    let log = AuditLog::open(config.clone()).expect("open");
    for n in 0..5 {
        let mut event = AuditEvent {
            user: format!("user{n}"),
            decision: "allow".into(),
            ..Default::default()
        };
        log.set_sql(&mut event, &format!("SELECT {n}, '{}'", "x".repeat(200)));
        log.record(&event).expect("record");
    }
    drop(log);
    // A restart continues the chain.
    let log = AuditLog::open(config).expect("reopen");
    log.record(&AuditEvent {
        user: "after restart".into(),
        ..Default::default()
    })
    .expect("record");
    drop(log);

    let ok = verify(&path);
    assert!(ok.status.success(), "{ok:?}");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("6 records") && stdout.contains("from the first record"),
        "{stdout}"
    );

    // Change one record's user, in whichever file holds it.
    let mut changed = 0;
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let file = entry.expect("entry").path();
        let text = std::fs::read_to_string(&file).expect("read");
        if text.contains("user3") {
            std::fs::write(&file, text.replace("user3", "user9")).expect("tamper");
            changed += 1;
        }
    }
    assert_eq!(changed, 1);
    let broken = verify(&path);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("audit.jsonl") && stderr.contains(":2: the chain breaks"),
        "{stderr}"
    );
}
