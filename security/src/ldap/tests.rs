//! Configuration checks of `[auth.ldap]` (logins against a real directory are tested
//! with slapd in the integration suite).

use super::*;

fn template() -> LdapConfig {
    LdapConfig {
        url: "ldaps://ldap.example.org".into(),
        bind_dn: Some("uid={user},ou=people,dc=example,dc=org".into()),
        ..LdapConfig::default()
    }
}

#[test]
fn a_configuration_that_would_leak_or_never_work_is_refused() {
    assert!(LdapAuthenticator::new(template()).is_ok());
    let refused = |config: LdapConfig, words: &str| {
        let err = LdapAuthenticator::new(config).expect_err(words);
        assert!(err.contains(words), "{err}");
    };
    refused(
        LdapConfig {
            url: "http://ldap".into(),
            ..template()
        },
        "ldaps://",
    );
    refused(
        LdapConfig {
            url: "ldap://ldap.example.org".into(),
            ..template()
        },
        "start_tls",
    );
    refused(
        LdapConfig {
            start_tls: true,
            ..template()
        },
        "start_tls is for ldap://",
    );
    refused(
        LdapConfig {
            bind_dn: Some("ou=people,dc=example,dc=org".into()),
            ..template()
        },
        "{user}",
    );
    refused(
        LdapConfig {
            search_base: Some("dc=example,dc=org".into()),
            ..template()
        },
        "one of bind_dn",
    );
    refused(
        LdapConfig {
            bind_dn: None,
            search_base: Some("dc=example,dc=org".into()),
            search_bind_dn: Some("cn=svc".into()),
            ..template()
        },
        "go together",
    );
    refused(
        LdapConfig {
            group_base: Some("ou=groups,dc=example,dc=org".into()),
            group_filter: "(objectClass=groupOfNames)".into(),
            ..template()
        },
        "group_filter",
    );
    refused(
        LdapConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..template()
        },
        "ca_file",
    );
    // Plain ldap:// only when asked for in so many words.
    assert!(
        LdapAuthenticator::new(LdapConfig {
            url: "ldap://127.0.0.1:389".into(),
            allow_plaintext: true,
            ..template()
        })
        .is_ok()
    );
}

#[test]
fn the_service_password_never_shows_in_debug_output() {
    let config = LdapConfig {
        search_bind_password: Some("hunter2".into()),
        ..template()
    };
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[tokio::test]
async fn empty_passwords_and_odd_names_are_refused_before_the_directory() {
    // An unreachable directory: these must be refused without asking it.
    let ldap = LdapAuthenticator::new(LdapConfig {
        url: "ldap://127.0.0.1:9".into(),
        allow_plaintext: true,
        timeout_seconds: 1,
        ..template()
    })
    .expect("config");
    for (user, password) in [("alice", ""), ("", "x"), ("a\nb", "x")] {
        assert!(matches!(
            ldap.login(user, password).await,
            Err(LdapLoginError::Refused(_))
        ));
    }
    // A directory that is not there: unavailable, not refused.
    assert!(matches!(
        ldap.login("alice", "secret").await,
        Err(LdapLoginError::Unavailable(_))
    ));
}
