//! JOSE and X.509, with no storage behind them: JWS parsing and verification against a set of
//! public keys, JWK and certificate reading (what apps upload), and key pairs that sign (what
//! the server and app keys use). `keys` decides which key signs; this module only does the
//! mathematics and the encodings, so both the registry and the protocol can share it.

pub mod certificate;
pub mod dpop;
pub mod jws;
pub mod signing;

pub use certificate::{GeneratedPrivateKey, KeyFormat, PublicKey};
pub use jws::ClientKey;
pub use signing::{Alg, KeyPair, SigningKey};
