//! Proof that a tenant owns an email domain before federation routes it. Claiming a domain sends
//! every person with an address there to the claimant's provider, and lets that provider vouch
//! for those addresses, so a domain a tenant administrator names waits as a claim with a random
//! token until DNS publishes `_gatehouse-challenge.<domain>  TXT
//! "gatehouse-domain-verification=<token>"` (the scheme Google Workspace and Entra ID use).
//! Operators connect providers with their domains proven: they answer for them.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// The name the record is published under, below the domain.
pub const TXT_LABEL: &str = "_gatehouse-challenge";
/// What the record's text starts with; the claim's token follows.
pub const TXT_PREFIX: &str = "gatehouse-domain-verification=";

/// The TXT record that proves `domain` for a claim with `token`: its name and its text.
pub fn txt_record(domain: &str, token: &str) -> (String, String) {
    (format!("{TXT_LABEL}.{domain}"), format!("{TXT_PREFIX}{token}"))
}

/// Why a lookup found no proof, in words for the administrator.
#[derive(Debug, thiserror::Error)]
pub enum DnsFailure {
    #[error("DNS has no TXT record at {0} yet (a new record can take a while to be seen)")]
    NoRecord(String),
    #[error("the TXT records at {0} do not hold this claim's token")]
    WrongRecord(String),
    #[error("DNS did not answer: {0}")]
    Unreachable(String),
}

/// Asks DNS for TXT records: the system's resolvers, or one server named in the configuration
/// (`outbound.dns_server`, which tests point at their own).
pub struct Dns {
    resolver: Result<TokioResolver, String>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").field("ready", &self.resolver.is_ok()).finish()
    }
}

impl Dns {
    /// A resolver that keeps nothing: an administrator who adds the record and asks again must
    /// not get the "no record" of a minute ago from a cache.
    pub fn new(server: Option<SocketAddr>) -> Dns {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        opts.cache_size = 0;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        let builder = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                ns.connections = vec![udp, tcp];
                Ok(TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                ))
            }
            None => TokioResolver::builder(TokioRuntimeProvider::default()).map_err(|e| e.to_string()),
        };
        let resolver = builder.and_then(|b| b.with_options(opts).build().map_err(|e| e.to_string()));
        if let Err(e) = &resolver {
            tracing::warn!(error = %e, "no DNS resolver: tenant administrators cannot prove email domains");
        }
        Dns { resolver }
    }

    /// Whether `name` has a TXT record whose text is `expected` (a record's strings joined, as
    /// RFC 7208 §3.3 reads long TXT records).
    pub async fn holds(&self, name: &str, expected: &str) -> Result<(), DnsFailure> {
        let resolver = self.resolver.as_ref().map_err(|e| DnsFailure::Unreachable(e.clone()))?;
        // A trailing dot: the name is absolute, no search domain is tried.
        let lookup = match resolver.txt_lookup(format!("{name}.")).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() => return Err(DnsFailure::NoRecord(name.to_string())),
            Err(e) => return Err(DnsFailure::Unreachable(e.to_string())),
        };
        let found = lookup.answers().iter().any(|record| match &record.data {
            RData::TXT(txt) => txt.txt_data.iter().flat_map(|s| s.iter().copied()).eq(expected.bytes()),
            _ => false,
        });
        if found {
            Ok(())
        } else {
            Err(DnsFailure::WrongRecord(name.to_string()))
        }
    }
}
