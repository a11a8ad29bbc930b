//! The one outbound HTTP client: every URL a client registers and we call (`jwks_uri`, the
//! back-channel logout URI, webhooks, a tenant's upstream provider) goes through it. Timeouts,
//! a size limit, no redirects, https only, and no connection to a private, loopback or
//! link-local address unless configured (development and tests), checked on the addresses DNS
//! returns so a name cannot be rebound to an internal host.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Why a fetch failed: a sentence safe to show the client that registered the URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

fn fail(why: impl Into<String>) -> FetchError {
    FetchError(why.into())
}

#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
    max_bytes: usize,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("allow_private", &self.allow_private).finish()
    }
}

/// Largest document we read (a JWK Set of ten 4096-bit RSA keys is under 10 KiB).
pub const MAX_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Makes aws-lc-rs the process's rustls provider, so that every rustls user in the process
/// (this client, and HTTP clients in tests) runs on the one crypto backend. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

impl Outbound {
    /// `allow_private` admits loopback and private addresses and plain http (tests, development).
    pub fn new(allow_private: bool) -> anyhow::Result<Outbound> {
        install_crypto_provider();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .https_only(!allow_private)
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { client, allow_private, max_bytes: MAX_BYTES })
    }

    /// Checks a URL before it is registered: absolute, https (unless private addresses are
    /// allowed), no credentials or fragment, and not an IP literal we would refuse to reach.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, FetchError> {
        let url = url::Url::parse(raw).map_err(|_| fail("is not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(fail("must use https")),
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(fail("must not contain credentials or a fragment"));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.allowed(IpAddr::V4(ip)) => {
                Err(fail("must not point to a private address"))
            }
            Some(url::Host::Ipv6(ip)) if !self.allowed(IpAddr::V6(ip)) => {
                Err(fail("must not point to a private address"))
            }
            Some(url::Host::Domain("localhost")) if !self.allow_private => Err(fail("must not point to localhost")),
            Some(_) => Ok(url),
            None => Err(fail("has no host")),
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// GETs a JSON document: 200 only, at most `MAX_BYTES`, within the timeout.
    pub async fn get_json(&self, raw: &str) -> Result<serde_json::Value, FetchError> {
        let url = self.check_url(raw)?;
        let res = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(fail(format!("answered HTTP {}", res.status().as_u16())));
        }
        let body = self.read_body(res).await?;
        serde_json::from_slice(&body).map_err(|_| fail("did not return JSON"))
    }

    /// Sends a request an OAuth library built (discovery, a token request) under the same
    /// rules: the URL checked, no redirects followed, the answer at most `MAX_BYTES`.
    pub async fn send(&self, req: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, FetchError> {
        let url = self.check_url(&req.uri().to_string())?;
        let (parts, body) = req.into_parts();
        let res = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| fail(describe(&e)))?;
        let mut answer = http::Response::builder().status(res.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = res.headers().clone();
        }
        let body = self.read_body(res).await?;
        answer.body(body).map_err(|_| fail("answered something that is not HTTP"))
    }

    async fn read_body(&self, mut res: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        if res.content_length().is_some_and(|n| n as usize > self.max_bytes) {
            return Err(fail(format!("is larger than {} KiB", self.max_bytes / 1024)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| fail(describe(&e)))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(fail(format!("is larger than {} KiB", self.max_bytes / 1024)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl Outbound {
    /// POSTs a form and returns the answer's status (its body is not read): for notifying an
    /// app, where only "did it take it" matters.
    pub async fn post_form(&self, raw: &str, form: &[(&str, &str)]) -> Result<u16, FetchError> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.post(raw, "application/x-www-form-urlencoded", &[], body).await
    }

    /// POSTs `body` as `content_type` with extra `headers`; the answer's status.
    pub async fn post(
        &self,
        raw: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<u16, FetchError> {
        let url = self.check_url(raw)?;
        let mut req = self.client.post(url).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.map_err(|e| fail(describe(&e)))?;
        Ok(res.status().as_u16())
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "did not answer in time".into()
    } else if e.is_connect() {
        "could not be reached".into()
    } else {
        "could not be fetched".into()
    }
}

/// Resolves names with the system resolver and drops every address we must not connect to.
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the name has no public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Globally routable unicast: not loopback, private (RFC 1918, RFC 4193), link-local, CGNAT,
/// unspecified, multicast, broadcast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_registration() {
        let strict = Outbound::new(false).unwrap();
        assert!(strict.check_url("https://rp.example.com/jwks").is_ok());
        assert!(strict.check_url("http://rp.example.com/jwks").is_err(), "https only");
        assert!(strict.check_url("https://127.0.0.1/jwks").is_err());
        assert!(strict.check_url("https://[::1]/jwks").is_err());
        assert!(strict.check_url("https://169.254.169.254/latest").is_err());
        assert!(strict.check_url("https://localhost/jwks").is_err());
        assert!(strict.check_url("https://u:p@rp.example.com/jwks").is_err());
        let dev = Outbound::new(true).unwrap();
        assert!(dev.check_url("http://127.0.0.1:9000/jwks").is_ok());
    }
}
