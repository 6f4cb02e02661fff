//! Identifier normalization: GUIDs in any of the forms Microsoft and exporters write (upper or
//! lower case, braces, no hyphens) become one canonical lower-case hyphenated text, the all-zero
//! GUID means "no value", and `QueryResults` id lists (comma separated with spaces, `N/A`, empty)
//! become a list of tokens. Tokens that are not GUIDs are kept as text, never dropped.

use uuid::Uuid;

/// Canonical form of an identifier: lower-case hyphenated when it is a GUID (braces and case
/// removed), otherwise the trimmed text unchanged.
pub(crate) fn canonical_id(text: &str) -> String {
    canonical_trimmed_id(text.trim())
}

/// [`canonical_id`] of text that is already trimmed.
fn canonical_trimmed_id(trimmed: &str) -> String {
    if is_canonical_guid(trimmed) {
        return trimmed.to_owned();
    }
    match parse_guid(trimmed) {
        Some(guid) => {
            let mut buffer = Uuid::encode_buffer();
            guid.hyphenated().encode_lower(&mut buffer).to_owned()
        }
        None => trimmed.to_owned(),
    }
}

/// Whether the text is already a lower-case hyphenated GUID (what Microsoft sends), so that the
/// common case needs no parse and re-encode.
fn is_canonical_guid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
        })
}

/// Parses a GUID: hyphenated, braced or simple; `None` for anything else.
pub(crate) fn parse_guid(text: &str) -> Option<Uuid> {
    match text.len() {
        32 | 36 | 38 => Uuid::try_parse(text).ok(),
        _ => None,
    }
}

/// Whether the text is an all-zero GUID (Microsoft's "not entity related" marker). Also true for
/// the malformed seven-zero variant the activity-logging documentation prints
/// (`0000000-0000-0000-0000-000000000000`).
pub(crate) fn is_zero_guid(text: &str) -> bool {
    let trimmed = text.trim().trim_start_matches('{').trim_end_matches('}');
    trimmed.len() >= 31
        && trimmed.bytes().all(|byte| byte == b'0' || byte == b'-')
        && trimmed.bytes().any(|byte| byte == b'0')
}

/// `N/A` (any case), the placeholder the documented example logs show for empty values.
pub(crate) fn is_not_applicable(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("N/A")
}

/// A reference to a record or correlation: `None` when empty, `N/A` or all-zero, otherwise the
/// canonical id.
pub(crate) fn optional_reference(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || is_not_applicable(trimmed) || is_zero_guid(trimmed) {
        None
    } else {
        Some(canonical_id(trimmed))
    }
}

/// Splits a `QueryResults` text (`id1, id2`, `id1;id2`) into canonical tokens, skipping empty
/// tokens and `N/A`, and appends them to `out`.
pub(crate) fn split_id_list(text: &str, out: &mut Vec<String>) {
    for token in text.split([',', ';']) {
        push_id_token(token, out);
    }
}

/// Appends one id token in canonical form unless it is empty or `N/A`.
pub(crate) fn push_id_token(token: &str, out: &mut Vec<String>) {
    let token = token.trim();
    if !token.is_empty() && !token.eq_ignore_ascii_case("N/A") {
        out.push(canonical_trimmed_id(token));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_become_lower_case_hyphenated() {
        let canonical = "dc136b61-6c1e-e811-a952-000d3a732d76";
        for form in [
            "dc136b61-6c1e-e811-a952-000d3a732d76",
            "DC136B61-6C1E-E811-A952-000D3A732D76",
            "{dc136b61-6c1e-e811-a952-000d3a732d76}",
            "dc136b616c1ee811a952000d3a732d76",
            "  dc136b61-6c1e-e811-a952-000d3a732d76 ",
        ] {
            assert_eq!(canonical_id(form), canonical, "{form}");
        }
    }

    #[test]
    fn canonical_fast_path_agrees_with_the_parser() {
        assert!(is_canonical_guid("dc136b61-6c1e-e811-a952-000d3a732d76"));
        assert!(!is_canonical_guid("DC136B61-6C1E-E811-A952-000D3A732D76"));
        assert!(!is_canonical_guid("dc136b61-6c1e-e811-a952-000d3a732d7g"));
        assert!(!is_canonical_guid("dc136b61x6c1e-e811-a952-000d3a732d76"));
        assert_eq!(
            canonical_id("dc136b61-6c1e-e811-a952-000d3a732d7g"),
            "dc136b61-6c1e-e811-a952-000d3a732d7g"
        );
    }

    #[test]
    fn non_guids_are_kept_verbatim_but_trimmed() {
        assert_eq!(canonical_id(" sanitized "), "sanitized");
        assert_eq!(canonical_id("urn:uuid:dc136b61-6c1e-e811-a952-000d3a732d76").len(), 45);
    }

    #[test]
    fn zero_guids_and_placeholders_are_no_reference() {
        assert_eq!(optional_reference("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(optional_reference("{00000000-0000-0000-0000-000000000000}"), None);
        assert_eq!(optional_reference("0000000-0000-0000-0000-000000000000"), None);
        assert_eq!(optional_reference("00000000000000000000000000000000"), None);
        assert_eq!(optional_reference("N/A"), None);
        assert_eq!(optional_reference(""), None);
        assert_eq!(optional_reference("0"), Some("0".to_owned()));
        assert_eq!(
            optional_reference("23AD069E-4D22-E811-A953-000D3A732D76"),
            Some("23ad069e-4d22-e811-a953-000d3a732d76".to_owned())
        );
    }

    #[test]
    fn id_lists_split_on_commas_with_spaces() {
        let mut ids = Vec::new();
        split_id_list(
            "00aa00aa-bb11-cc22-dd33-44ee44ee44ee, DC136B61-6C1E-E811-A952-000D3A732D76,,  ;x",
            &mut ids,
        );
        assert_eq!(
            ids,
            ["00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "dc136b61-6c1e-e811-a952-000d3a732d76", "x"]
        );
        let mut none = Vec::new();
        split_id_list("N/A", &mut none);
        split_id_list("", &mut none);
        split_id_list(" , ", &mut none);
        assert!(none.is_empty());
    }
}
