//! What the gateway exposes beyond this machine, checked before any listener binds:
//! the demo accounts and listeners that would carry passwords in clear are refused on
//! non-loopback addresses unless `[auth]` allows them, and the demo accounts are
//! announced with a warning at every start.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::config::Config;

/// One listener as the check sees it.
struct Listener<'a> {
    /// The configuration key, as named in errors (`pg.listen`).
    key: &'static str,
    address: &'a str,
    /// Whether every password on it travels inside TLS.
    encrypted: bool,
    /// What to configure for TLS, named in the error.
    tls_hint: &'static str,
}

/// Checks the listeners against `[auth]`; logs the demo-account warning.
pub fn check(config: &Config) -> Result<(), String> {
    let demo = config.users.is_empty();
    if demo {
        tracing::warn!(
            users = "demo, admin, analyst, auditor",
            "no [[users]] configured: the demo accounts accept logins with their names as \
             passwords; configure users before anyone else can reach the gateway"
        );
    }
    for listener in listeners(config) {
        if is_loopback(listener.address) {
            continue;
        }
        if demo && !config.auth.allow_demo_users {
            return Err(format!(
                "{} = {:?} is not a loopback address and no [[users]] are configured: the demo \
                 accounts (passwords equal to their names) would be reachable from the \
                 network. Configure [[users]], or set [auth] allow_demo_users = true",
                listener.key, listener.address
            ));
        }
        if !listener.encrypted && !config.auth.allow_insecure_listeners {
            return Err(format!(
                "{} = {:?} is not a loopback address and passwords on it would cross the \
                 network in clear: {}, or set [auth] allow_insecure_listeners = true (e.g. \
                 behind a TLS-terminating proxy)",
                listener.key, listener.address, listener.tls_hint
            ));
        }
    }
    Ok(())
}

fn listeners(config: &Config) -> Vec<Listener<'_>> {
    let mut all = vec![Listener {
        key: "pg.listen",
        address: &config.pg.listen,
        encrypted: config.pg.tls.as_ref().is_some_and(|tls| tls.require),
        tls_hint: "configure [pg.tls] with require = true",
    }];
    if config.flight.enabled {
        all.push(Listener {
            key: "flight.listen",
            address: &config.flight.listen,
            encrypted: config.flight.tls.is_some(),
            tls_hint: "configure [flight.tls]",
        });
    }
    if config.admin.enabled {
        all.push(Listener {
            key: "admin.listen",
            address: &config.admin.listen,
            encrypted: false,
            tls_hint: "the admin endpoint has no TLS; keep it on a loopback address",
        });
    }
    all
}

/// Whether `address` (`host:port`) binds only loopback interfaces. A name that does
/// not resolve counts as exposed (binding it fails later with its own error).
fn is_loopback(address: &str) -> bool {
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return socket.ip().is_loopback();
    }
    match address.to_socket_addrs() {
        Ok(resolved) => {
            let resolved: Vec<SocketAddr> = resolved.collect();
            !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlightTlsConfig, TlsConfig};

    fn config(pg: &str) -> Config {
        let mut config = Config::default();
        config.pg.listen = pg.into();
        config
    }

    #[test]
    fn loopback_addresses_are_recognised() {
        assert!(is_loopback("127.0.0.1:5433"));
        assert!(is_loopback("[::1]:0"));
        assert!(is_loopback("localhost:5433"));
        assert!(!is_loopback("0.0.0.0:5433"));
        assert!(!is_loopback("[::]:5433"));
        assert!(!is_loopback("192.0.2.1:5433"));
    }

    #[test]
    fn demo_users_on_the_network_are_refused_unless_allowed() {
        assert_eq!(check(&config("127.0.0.1:0")), Ok(()));
        let mut exposed = config("0.0.0.0:5433");
        let Err(e) = check(&exposed) else {
            panic!("demo users on 0.0.0.0 accepted")
        };
        assert!(
            e.contains("pg.listen") && e.contains("allow_demo_users"),
            "{e}"
        );
        exposed.auth.allow_demo_users = true;
        let Err(e) = check(&exposed) else {
            panic!("a plain listener on 0.0.0.0 accepted")
        };
        assert!(e.contains("allow_insecure_listeners"), "{e}");
        exposed.auth.allow_insecure_listeners = true;
        assert_eq!(check(&exposed), Ok(()));
    }

    #[test]
    fn an_exposed_listener_needs_required_tls() {
        let mut exposed = config("127.0.0.1:0");
        exposed.users.push(lakegate_security::UserConfig {
            name: "u".into(),
            password: "p".into(),
            md5: None,
            attributes: Default::default(),
        });
        exposed.flight.listen = "0.0.0.0:50051".into();
        let Err(e) = check(&exposed) else {
            panic!("plain Flight on 0.0.0.0 accepted")
        };
        assert!(
            e.contains("flight.listen") && e.contains("[flight.tls]"),
            "{e}"
        );
        exposed.flight.tls = Some(FlightTlsConfig {
            cert: "c".into(),
            key: "k".into(),
        });
        assert_eq!(check(&exposed), Ok(()));
        exposed.pg.listen = "0.0.0.0:5433".into();
        exposed.pg.tls = Some(TlsConfig {
            cert: "c".into(),
            key: "k".into(),
            require: false,
        });
        let Err(e) = check(&exposed) else {
            panic!("optional TLS on 0.0.0.0 accepted")
        };
        assert!(e.contains("require = true"), "{e}");
    }
}
