//! Corporate identity: logins with tokens of an OIDC identity provider and with
//! directory (LDAP) passwords.

mod jwt;
mod ldap;
