//! Key sets and token shapes; signatures and claims are tested with generated keys in
//! the integration tests (`tests/tests/integration/pg/jwt.rs`).

use super::*;

#[test]
fn a_key_set_keeps_signing_keys_it_can_use() {
    let keys = jwks::parse(
        br#"{"keys": [
            {"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"}
        ]}"#,
    )
    .expect("valid set");
    let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
    kids.sort();
    assert_eq!(kids, ["e", "r"]);
    assert!(matches!(&keys["e"].0, PublicKey::EcP256 { point } if point.len() == 65));
    assert!(jwks::parse(b"{}").is_err());
    assert!(
        jwks::parse(br#"{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}"#).is_err()
    );
}

#[test]
fn a_token_is_told_from_a_password_by_its_shape() {
    assert!(JwtVerifier::looks_like_token(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
    ));
    for password in [
        "secret",
        "eyJ.a.b.c",
        "a.b.c",
        "eyJhbGc.eyJ=.sig",
        "eyJ x.y.z",
    ] {
        assert!(!JwtVerifier::looks_like_token(password), "{password}");
    }
}

#[tokio::test]
async fn configuration_errors_are_named() {
    let fail = |config: JwtConfig| async move { JwtVerifier::new(config).await.map(|_| ()) };
    let base = JwtConfig {
        issuer: "https://idp".into(),
        audience: "lakegate".into(),
        jwks_file: Some("/nonexistent/jwks.json".into()),
        ..JwtConfig::default()
    };
    let Err(e) = fail(base.clone()).await else {
        panic!("missing file accepted")
    };
    assert!(e.contains("/nonexistent/jwks.json"), "{e}");
    let Err(e) = fail(JwtConfig {
        algorithms: vec!["HS256".into()],
        ..base.clone()
    })
    .await
    else {
        panic!("HS256 accepted")
    };
    assert!(e.contains("HS256"), "{e}");
    let Err(e) = fail(JwtConfig {
        algorithms: vec!["none".into()],
        ..base.clone()
    })
    .await
    else {
        panic!("none accepted")
    };
    assert!(e.contains("none"), "{e}");
    let Err(e) = fail(JwtConfig {
        jwks_file: None,
        jwks_url: Some("http://idp/jwks".into()),
        ..base.clone()
    })
    .await
    else {
        panic!("http accepted")
    };
    assert!(e.contains("https"), "{e}");
    let Err(e) = fail(JwtConfig {
        audience: String::new(),
        ..base
    })
    .await
    else {
        panic!("no audience accepted")
    };
    assert!(e.contains("audience"), "{e}");
}
