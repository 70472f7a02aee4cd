//! Corporate identity: logins with tokens of an OIDC identity provider.

mod jwt;
