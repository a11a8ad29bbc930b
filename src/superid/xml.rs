//! Writing XML that is already in exclusive canonical form (W3C xml-exc-c14n): no
//! self-closing tags, attributes in sorted order, and c14n's escaping. What we sign is then
//! exactly the bytes we send, with no canonicaliser of our own to get wrong.

/// Text content, escaped as canonical XML writes it (c14n §1.1: `&`, `<`, `>`, CR).
/// Characters XML cannot carry at all are left out rather than written as broken XML.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// An attribute value, escaped as canonical XML writes it (`&`, `<`, `"`, TAB, LF, CR);
/// characters XML cannot carry are left out.
pub fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Characters XML 1.0 cannot carry at all (§2.2); such values are dropped, not sent broken.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_as_canonical_xml_does() {
        assert_eq!(super::text("a<b>&c\r\n\"'"), "a&lt;b&gt;&amp;c&#xD;\n\"'");
        assert_eq!(super::attr("a<b>&c\t\r\n\"'"), "a&lt;b>&amp;c&#x9;&#xD;&#xA;&quot;'");
        assert!(!super::is_xml_char('\u{1}'));
        assert_eq!(super::text("a\u{1}b\u{FFFE}"), "ab");
        assert!(super::is_xml_char('é'));
    }
}
