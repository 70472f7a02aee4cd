//! Several gateways behind one address: replicas that share a configuration, a data
//! directory and signing keys.

mod distributed;
mod replicas;
