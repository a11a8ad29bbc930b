//! The `claims` request parameter (OIDC Core §5.5): which claims an app asks for by name, and
//! the two that change the sign-in itself, an essential `acr` and a required `sub`.
//!
//! The claims we hold are released by the scopes they belong to (§5.4), in the ID token and at
//! userinfo alike; asking for one by name asks for its scope, so the person consents to it on
//! the same page as any other scope. Claims we do not hold are left out (§5.5: a claim that is
//! not available is not an error), as are members we do not understand.

use serde_json::{Map, Value};

/// Longest `claims` value we read: a request naming every standard claim is under 1 KiB.
pub const MAX_LEN: usize = 4096;

/// The claims we hold, by the scope that releases them.
const RELEASED_BY: &[(&str, &str)] =
    &[("name", "profile"), ("preferred_username", "profile"), ("email", "email"), ("email_verified", "email")];

/// A parsed `claims` parameter: the `id_token` and `userinfo` members (§5.5).
#[derive(Debug, Default, Clone)]
pub struct ClaimsRequest {
    id_token: Map<String, Value>,
    userinfo: Map<String, Value>,
}

impl ClaimsRequest {
    /// Parses and checks the shape of §5.5: a JSON object whose `id_token` and `userinfo`
    /// members are objects, each claim `null` or an object whose `essential` is a boolean and
    /// whose `values` is an array. The error is a sentence for `invalid_request`.
    pub fn parse(raw: &str) -> Result<ClaimsRequest, String> {
        if raw.len() > MAX_LEN {
            return Err(format!("the claims parameter must be at most {MAX_LEN} bytes"));
        }
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(raw) else {
            return Err("the claims parameter must be a JSON object (OIDC Core 5.5)".into());
        };
        let member = |name: &str| -> Result<Map<String, Value>, String> {
            match top.get(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(claims)) => {
                    for (claim, request) in claims {
                        check_request(request).map_err(|why| format!("claims.{name}.{}: {why}", printable(claim)))?;
                    }
                    Ok(claims.clone())
                }
                Some(_) => Err(format!("claims.{name} must be a JSON object")),
            }
        };
        Ok(ClaimsRequest { id_token: member("id_token")?, userinfo: member("userinfo")? })
    }

    /// The scopes whose claims were asked for by name.
    pub fn implied_scopes(&self) -> Vec<&'static str> {
        let mut scopes = Vec::new();
        for name in self.id_token.keys().chain(self.userinfo.keys()) {
            if let Some((_, scope)) = RELEASED_BY.iter().find(|(claim, _)| claim == name) {
                if !scopes.contains(scope) {
                    scopes.push(*scope);
                }
            }
        }
        scopes
    }

    /// The `acr` values the ID token must have one of, when `acr` is essential and names some
    /// (§5.5.1.1).
    pub fn essential_acr(&self) -> Option<Vec<String>> {
        let acr = self.id_token.get("acr")?.as_object()?;
        if acr.get("essential") != Some(&Value::Bool(true)) {
            return None;
        }
        let mut wanted: Vec<String> =
            acr.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(value_string).collect();
        wanted.extend(acr.get("value").and_then(value_string));
        (!wanted.is_empty()).then_some(wanted)
    }

    /// The `sub` the ID token must have (§5.5.1: a positive answer only for that person).
    pub fn requested_sub(&self) -> Option<&str> {
        self.id_token.get("sub")?.get("value")?.as_str()
    }
}

fn value_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn check_request(request: &Value) -> Result<(), &'static str> {
    let Some(r) = request.as_object() else {
        return if request.is_null() { Ok(()) } else { Err("must be null or a JSON object") };
    };
    if r.get("essential").is_some_and(|e| !e.is_boolean()) {
        return Err("essential must be true or false");
    }
    if r.get("values").is_some_and(|v| !v.is_array()) {
        return Err("values must be an array");
    }
    Ok(())
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::ClaimsRequest;

    #[test]
    fn asking_for_a_claim_by_name_asks_for_its_scope() {
        let c = ClaimsRequest::parse(
            r#"{"id_token":{"email":null},"userinfo":{"name":{"essential":true},"phone_number":null}}"#,
        )
        .unwrap();
        assert_eq!(c.implied_scopes(), vec!["email", "profile"]);
    }

    #[test]
    fn an_essential_acr_names_its_values_and_a_voluntary_one_none() {
        let c = ClaimsRequest::parse(r#"{"id_token":{"acr":{"essential":true,"values":["a","b"]}}}"#).unwrap();
        assert_eq!(c.essential_acr().unwrap(), vec!["a", "b"]);
        let c = ClaimsRequest::parse(r#"{"id_token":{"acr":{"values":["a"]}}}"#).unwrap();
        assert!(c.essential_acr().is_none());
        let c = ClaimsRequest::parse(r#"{"id_token":{"sub":{"value":"u1"}}}"#).unwrap();
        assert_eq!(c.requested_sub(), Some("u1"));
    }

    #[test]
    fn shapes_outside_section_5_5_are_refused() {
        for bad in [
            "[]",
            "not json",
            r#"{"id_token":[]}"#,
            r#"{"userinfo":{"email":true}}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"a"}}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
        assert!(ClaimsRequest::parse(&format!(r#"{{"x":"{}"}}"#, "a".repeat(5000))).is_err());
        assert!(ClaimsRequest::parse(r#"{"id_token":null,"other":1}"#).is_ok(), "unknown members are ignored");
    }
}
