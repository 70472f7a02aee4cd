//! SCRAM-SHA-256 authentication over Postgres wire.

use lakegate_tests::{PASSWORD, TestGateway, USER};

#[tokio::test]
async fn scram_login_succeeds_with_the_right_password() {
    let gw = TestGateway::start().await;
    let client = gw.connect_as(USER, PASSWORD).await.expect("login");
    let row = client.query_one("SELECT 1 + 1", &[]).await.expect("query");
    assert_eq!(row.get::<_, i32>(0), 2);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_with_28p01() {
    let gw = TestGateway::start().await;
    for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD)] {
        let err = gw
            .connect_as(user, password)
            .await
            .err()
            .unwrap_or_else(|| panic!("{user}/{password} must be refused"));
        let code = err.code().map(|c| c.code().to_string());
        assert_eq!(code.as_deref(), Some("28P01"), "{user}: {err}");
        let message = err.as_db_error().map(|e| e.message().to_string());
        assert!(message.unwrap_or_default().contains(user), "{err:?}");
    }
    // The server still serves after refused logins.
    gw.connect()
        .await
        .simple_query("SELECT 1")
        .await
        .expect("still serving");
}
