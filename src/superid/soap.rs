//! The SOAP 1.1 form of the system-user exchange, `PartnerSystemUserService.svc`, as older
//! SuperOffice SDKs (suds, WCF clients) call it: the `ApplicationToken` and
//! `ContextIdentifier` SOAP headers and an `AuthenticationRequest` body in the service's
//! namespace, answered with an `AuthenticationResponse`, or a SOAP fault when the envelope
//! itself cannot be read. Also the WSDL that describes it.
//!
//! Parsing is roxmltree with its defaults kept: a document type declaration is refused
//! outright, so no entity (external or expanding) is ever defined, and only XML's predefined
//! and numeric references are read; the node count is bounded too
//! (docs/decisions/0015-xml-parser.md).

use super::system_user::{Request, Response};
use super::xml::{attr, text};

/// The service's namespace (its WSDL's target namespace).
pub const NS: &str = "http://www.superoffice.com/superid/partnersystemuser/0.1";
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The one operation's action, as WCF names it.
pub const ACTION: &str =
    "http://www.superoffice.com/superid/partnersystemuser/0.1/IPartnerSystemUserService/Authenticate";
/// An envelope has a handful of elements; anything much larger is not a request.
const MAX_NODES: u32 = 512;

/// Why an envelope was not read: the fault's code (`Client` blames the sender) and text.
#[derive(Debug, PartialEq, Eq)]
pub struct Fault {
    pub code: &'static str,
    pub message: String,
}

fn client_fault(message: impl Into<String>) -> Fault {
    Fault { code: "Client", message: message.into() }
}

/// Reads a SOAP 1.1 request envelope into the exchange's request.
pub fn parse(body: &[u8]) -> Result<Request, Fault> {
    let text = std::str::from_utf8(body).map_err(|_| client_fault("The request is not UTF-8 XML."))?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => client_fault("Document type declarations are not accepted."),
        roxmltree::Error::NodesLimitReached => client_fault("The request has too many XML nodes."),
        other => client_fault(format!("The request is not well-formed XML ({other}).")),
    })?;
    let envelope = doc.root_element();
    if envelope.tag_name().name() != "Envelope" || envelope.tag_name().namespace() != Some(SOAP_ENV) {
        return Err(client_fault("The request is not a SOAP 1.1 envelope."));
    }
    let body = child(envelope, "Body", SOAP_ENV).ok_or_else(|| client_fault("The SOAP envelope has no Body."))?;
    let request = child(body, "AuthenticationRequest", NS)
        .ok_or_else(|| client_fault(format!("The SOAP Body must hold an AuthenticationRequest in namespace {NS}.")))?;
    let header = child(envelope, "Header", SOAP_ENV);
    let value = |parent: Option<roxmltree::Node<'_, '_>>, name: &str| {
        parent.and_then(|p| child(p, name, NS)).map(|n| n.text().unwrap_or_default().trim().to_string())
    };
    Ok(Request {
        signed_system_token: value(Some(request), "SignedSystemToken"),
        return_token_type: value(Some(request), "ReturnTokenType"),
        application_token: value(header, "ApplicationToken"),
        context_identifier: value(header, "ContextIdentifier"),
    })
}

/// The child element `{ns}name` of `parent`: matched by namespace, never by prefix (suds
/// picks its prefixes afresh for each request).
fn child<'a, 'input>(parent: roxmltree::Node<'a, 'input>, name: &str, ns: &str) -> Option<roxmltree::Node<'a, 'input>> {
    parent.children().find(|n| n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns))
}

/// The response envelope (the WSDL's element order: IsSuccessful, Token, ErrorMessage).
pub fn response(answer: &Response) -> String {
    let token = match &answer.token {
        Some(t) => format!("<Token>{}</Token>", text(t)),
        None => "<Token xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" i:nil=\"true\"></Token>".into(),
    };
    format!(
        "<s:Envelope xmlns:s=\"{SOAP_ENV}\"><s:Body><AuthenticationResponse xmlns=\"{NS}\">\
         <IsSuccessful>{}</IsSuccessful>{token}<ErrorMessage>{}</ErrorMessage>\
         </AuthenticationResponse></s:Body></s:Envelope>",
        answer.is_successful,
        text(&answer.error_message)
    )
}

/// A SOAP 1.1 fault (§4.4): `s:Client` for a request we cannot read, `s:Server` for ours.
pub fn fault(f: &Fault) -> String {
    format!(
        "<s:Envelope xmlns:s=\"{SOAP_ENV}\"><s:Body><s:Fault><faultcode>s:{}</faultcode>\
         <faultstring xml:lang=\"en\">{}</faultstring></s:Fault></s:Body></s:Envelope>",
        f.code,
        text(&f.message)
    )
}

/// The WSDL of the service at `location`: one document-literal operation, `Authenticate`,
/// with the two headers, over SOAP 1.1 and HTTP.
pub fn wsdl(location: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="PartnerSystemUserService" targetNamespace="{NS}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="{NS}">
  <wsdl:types>
    <xs:schema elementFormDefault="qualified" targetNamespace="{NS}">
      <xs:simpleType name="TokenType">
        <xs:restriction base="xs:string">
          <xs:enumeration value="Jwt"/>
          <xs:enumeration value="Saml"/>
        </xs:restriction>
      </xs:simpleType>
      <xs:element name="AuthenticationRequest">
        <xs:complexType>
          <xs:sequence>
            <xs:element minOccurs="0" name="SignedSystemToken" nillable="true" type="xs:string"/>
            <xs:element minOccurs="0" name="ReturnTokenType" type="tns:TokenType"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
      <xs:element name="ApplicationToken" nillable="true" type="xs:string"/>
      <xs:element name="ContextIdentifier" nillable="true" type="xs:string"/>
      <xs:element name="AuthenticationResponse">
        <xs:complexType>
          <xs:sequence>
            <xs:element minOccurs="0" name="IsSuccessful" type="xs:boolean"/>
            <xs:element minOccurs="0" name="Token" nillable="true" type="xs:string"/>
            <xs:element minOccurs="0" name="ErrorMessage" nillable="true" type="xs:string"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="AuthenticationRequest">
    <wsdl:part name="parameters" element="tns:AuthenticationRequest"/>
  </wsdl:message>
  <wsdl:message name="AuthenticationRequest_Headers">
    <wsdl:part name="ApplicationToken" element="tns:ApplicationToken"/>
    <wsdl:part name="ContextIdentifier" element="tns:ContextIdentifier"/>
  </wsdl:message>
  <wsdl:message name="AuthenticationResponse">
    <wsdl:part name="parameters" element="tns:AuthenticationResponse"/>
  </wsdl:message>
  <wsdl:portType name="IPartnerSystemUserService">
    <wsdl:operation name="Authenticate">
      <wsdl:input name="AuthenticationRequest" message="tns:AuthenticationRequest"/>
      <wsdl:output name="AuthenticationResponse" message="tns:AuthenticationResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="BasicHttpBinding_IPartnerSystemUserService" type="tns:IPartnerSystemUserService">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Authenticate">
      <soap:operation soapAction="{ACTION}" style="document"/>
      <wsdl:input name="AuthenticationRequest">
        <soap:header message="tns:AuthenticationRequest_Headers" part="ApplicationToken" use="literal"/>
        <soap:header message="tns:AuthenticationRequest_Headers" part="ContextIdentifier" use="literal"/>
        <soap:body use="literal"/>
      </wsdl:input>
      <wsdl:output name="AuthenticationResponse">
        <soap:body use="literal"/>
      </wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="PartnerSystemUserService">
    <wsdl:port name="BasicHttpBinding_IPartnerSystemUserService" binding="tns:BasicHttpBinding_IPartnerSystemUserService">
      <soap:address location="{}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"#,
        attr(location)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(header: &str, body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:ns0=\"{NS}\" \
             xmlns:SOAP-ENV=\"{SOAP_ENV}\"><SOAP-ENV:Header>{header}</SOAP-ENV:Header><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    }

    #[test]
    fn reads_what_suds_sends() {
        let xml = envelope(
            "<ns0:ApplicationToken>secret</ns0:ApplicationToken><ns0:ContextIdentifier>Cust1</ns0:ContextIdentifier>",
            "<ns0:AuthenticationRequest><ns0:SignedSystemToken>a.b&amp;c.202612031200.c2ln</ns0:SignedSystemToken>\
             <ns0:ReturnTokenType>Saml</ns0:ReturnTokenType></ns0:AuthenticationRequest>",
        );
        let r = parse(xml.as_bytes()).unwrap();
        assert_eq!(r.application_token.as_deref(), Some("secret"));
        assert_eq!(r.context_identifier.as_deref(), Some("Cust1"));
        assert_eq!(r.signed_system_token.as_deref(), Some("a.b&c.202612031200.c2ln"));
        assert_eq!(r.return_token_type.as_deref(), Some("Saml"));
    }

    #[test]
    fn refuses_document_types_entities_and_floods() {
        let xxe = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
            envelope("", "<ns0:AuthenticationRequest><ns0:SignedSystemToken>&x;</ns0:SignedSystemToken></ns0:AuthenticationRequest>")
        );
        assert_eq!(parse(xxe.as_bytes()).unwrap_err().message, "Document type declarations are not accepted.");
        let undefined = envelope("", "<ns0:AuthenticationRequest><ns0:SignedSystemToken>&lol9;</ns0:SignedSystemToken></ns0:AuthenticationRequest>");
        assert!(parse(undefined.as_bytes()).unwrap_err().message.starts_with("The request is not well-formed XML"));
        let flood = envelope(&"<x/>".repeat(1000), "");
        assert_eq!(parse(flood.as_bytes()).unwrap_err().message, "The request has too many XML nodes.");
        assert_eq!(parse(b"<Envelope/>").unwrap_err().message, "The request is not a SOAP 1.1 envelope.");
        let wrong_ns =
            envelope("", "<AuthenticationRequest><SignedSystemToken>x</SignedSystemToken></AuthenticationRequest>");
        assert!(parse(wrong_ns.as_bytes()).unwrap_err().message.contains("AuthenticationRequest in namespace"));
    }

    #[test]
    fn answers_in_the_services_namespace_and_parses_back() {
        let ok = Response { is_successful: true, error_message: String::new(), token: Some("t<&>".into()) };
        let doc = response(&ok);
        let parsed = roxmltree::Document::parse(&doc).unwrap();
        let token = parsed.descendants().find(|n| n.tag_name().name() == "Token").unwrap();
        assert_eq!(token.tag_name().namespace(), Some(NS));
        assert_eq!(token.text(), Some("t<&>"));
        roxmltree::Document::parse(&wsdl("https://id.example.com/login/Services/PartnerSystemUserService.svc"))
            .unwrap();
        roxmltree::Document::parse(&fault(&client_fault("bad <xml>"))).unwrap();
    }
}
