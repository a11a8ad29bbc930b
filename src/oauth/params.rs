//! Request parameters (RFC 6749 §3.1, §3.2): each name at most once, empty values treated as
//! absent. Parsed once at the edge; protocol steps read typed values from here.

use std::borrow::Cow;

use super::OAuthError;

/// More parameters than any OAuth request needs is a malformed or hostile request.
const MAX_PARAMS: usize = 64;

#[derive(Debug, Default, Clone)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    /// Parses `application/x-www-form-urlencoded` bytes; a repeated name is `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = FormParams::default();
        params.extend(body)?;
        Ok(params)
    }

    /// Adds the parameters of another source (SuperID SDKs send token parameters in the query
    /// string); a name present in both is a repetition.
    pub fn extend(&mut self, encoded: &[u8]) -> Result<(), OAuthError> {
        for (name, value) in form_urlencoded::parse(encoded) {
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if value.is_empty() {
                continue;
            }
            if self.pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!("parameter '{}' is repeated", printable(&name))));
            }
            if self.pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            self.pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(())
    }

    /// Parses like `parse` but keeps the first value of a repeated name and reports the names
    /// that repeated: at the authorization endpoint a repetition is only known to be the
    /// client's error once the client and its redirect URI are verified (RFC 6749 §4.1.2.1).
    pub fn parse_lenient(encoded: &[u8]) -> Result<(Self, Vec<String>), OAuthError> {
        let mut params = FormParams::default();
        let mut repeated: Vec<String> = Vec::new();
        for (name, value) in form_urlencoded::parse(encoded) {
            if value.is_empty() {
                continue;
            }
            if params.pairs.iter().any(|(n, _)| *n == name) {
                if !repeated.iter().any(|r| *r == name) {
                    repeated.push(name.into_owned());
                }
                continue;
            }
            if params.pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            params.pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok((params, repeated))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("the '{name}' parameter is required")))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The same parameters without `names`.
    pub fn without(&self, names: &[&str]) -> FormParams {
        FormParams { pairs: self.pairs.iter().filter(|(n, _)| !names.contains(&n.as_str())).cloned().collect() }
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = value.to_string(),
            None => self.pairs.push((name.to_string(), value.to_string())),
        }
    }

    /// `application/x-www-form-urlencoded`, as `parse` reads it back.
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            out.append_pair(name, value);
        }
        out.finish()
    }
}

/// A parameter name safe to put in an error description: short, printable, and within the
/// characters RFC 6749 §5.2 allows there.
pub fn printable(name: &str) -> Cow<'_, str> {
    if name.len() <= 40 && name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        Cow::Borrowed(name)
    } else {
        Cow::Borrowed("(unprintable)")
    }
}

/// A space-delimited scope (RFC 6749 §3.3): each token printable ASCII without `"` or `\`.
pub fn parse_scope(scope: &str) -> Result<Vec<String>, OAuthError> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)) {
            return Err(OAuthError::invalid_scope("the scope contains characters RFC 6749 section 3.3 does not allow"));
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let p = FormParams::parse(b"grant_type=client_credentials&scope=&scope=a").unwrap();
        assert_eq!(p.get("scope"), Some("a"));
        let e = FormParams::parse(b"a=1&a=2").unwrap_err();
        assert!(e.description.contains("'a' is repeated"));
        let mut p = FormParams::parse(b"client_id=x").unwrap();
        assert!(p.extend(b"client_id=y").is_err());
        assert!(p.required("client_secret").unwrap_err().description.contains("client_secret"));
        let many: Vec<String> = (0..70).map(|i| format!("p{i}=v")).collect();
        assert!(FormParams::parse(many.join("&").as_bytes()).is_err());
    }

    #[test]
    fn parameters_survive_encoding_without_the_ones_left_out() {
        let mut p = FormParams::parse(b"scope=openid+email&state=a%26b%3Dc&client_secret=s3cret").unwrap();
        p.set("client_id", "app");
        p.set("state", "x y&z");
        let again = FormParams::parse(p.without(&["client_secret"]).encode().as_bytes()).unwrap();
        assert_eq!(
            (again.get("scope"), again.get("state"), again.get("client_id")),
            (Some("openid email"), Some("x y&z"), Some("app"))
        );
        assert_eq!(again.get("client_secret"), None);
    }

    #[test]
    fn scopes_are_split_deduplicated_and_checked() {
        assert_eq!(parse_scope("webapi  webapi openid").unwrap(), ["webapi", "openid"]);
        assert!(parse_scope("web\"api").is_err());
        assert!(parse_scope("caf\u{e9}").is_err());
        assert!(parse_scope("").unwrap().is_empty());
    }
}
