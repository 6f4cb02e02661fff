//! Content IDs in Microsoft's shape:
//! `{yyyyMMddHHmmssfff}{seq:06}${same}$audit_general$Audit_General${region}`.
//!
//! The 17-digit prefix is the blob's `contentCreated`; the 6-digit sequence is the blob's time
//! slot modulo one million, which is enough to find the slot again (see `schedule`).

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::content_type::ContentType;

/// The parts of a well-formed content ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentIdParts {
    pub(crate) created: DateTime<Utc>,
    pub(crate) sequence: u32,
    pub(crate) content_type: ContentType,
    pub(crate) region: String,
}

/// Modulus of the sequence part.
pub(crate) const SEQUENCE_MODULUS: i64 = 1_000_000;

/// Writes a content ID.
pub(crate) fn format_content_id(
    created: DateTime<Utc>,
    slot: i64,
    content_type: ContentType,
    region: &str,
) -> String {
    let head =
        format!("{}{:06}", created.format("%Y%m%d%H%M%S%3f"), slot.rem_euclid(SEQUENCE_MODULUS));
    let id_form = content_type.id_form();
    format!("{head}${head}${}${id_form}${region}", id_form.to_ascii_lowercase())
}

/// Reads a content ID; `None` means malformed (`AF20052`).
pub(crate) fn parse_content_id(text: &str) -> Option<ContentIdParts> {
    let mut parts = text.split('$');
    let head = parts.next()?;
    let repeat = parts.next()?;
    let lower = parts.next()?;
    let id_form = parts.next()?;
    let region = parts.next()?;
    if parts.next().is_some_and(|extra| extra != region) || parts.next().is_some() {
        return None;
    }
    if head != repeat || head.len() != 23 || !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let content_type = ContentType::from_id_form(id_form)?;
    if lower != id_form.to_ascii_lowercase() {
        return None;
    }
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let created = NaiveDateTime::parse_from_str(&head[..17], "%Y%m%d%H%M%S%3f").ok()?.and_utc();
    let sequence = head[17..].parse().ok()?;
    Some(ContentIdParts { created, sequence, content_type, region: region.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn content_id_has_the_documented_shape_and_round_trips() {
        let created = Utc.with_ymd_and_hms(2026, 6, 1, 10, 30, 0).unwrap()
            + chrono::Duration::milliseconds(123);
        let id = format_content_id(created, 5_926_001, ContentType::AuditGeneral, "emea0036");
        assert_eq!(
            id,
            "20260601103000123926001$20260601103000123926001$audit_general$Audit_General$emea0036"
        );
        let parts = parse_content_id(&id).unwrap();
        assert_eq!(parts.created, created);
        assert_eq!(parts.sequence, 926_001);
        assert_eq!(parts.content_type, ContentType::AuditGeneral);
        assert_eq!(parts.region, "emea0036");
    }

    #[test]
    fn reference_samples_parse() {
        let doubled = "20171014180051748005825$20171014180051748005825$audit_azureactivedirectory\
                       $Audit_AzureActiveDirectory$na0030$na0030";
        assert_eq!(
            parse_content_id(doubled).unwrap().content_type,
            ContentType::AuditAzureActiveDirectory
        );
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for id in [
            "",
            "nonsense",
            "20260601103000123000001$20260601103000123000002$audit_general$Audit_General$emea0036",
            "2026060110300012300000$2026060110300012300000$audit_general$Audit_General$emea0036",
            "20260601103000123000001$20260601103000123000001$audit_general$Audit_Dynamics$emea0036",
            "20260601103000123000001$20260601103000123000001$audit_general$Audit_General$",
            "20261301103000123000001$20261301103000123000001$audit_general$Audit_General$emea0036",
            "20260601103000123000001$20260601103000123000001$AUDIT_GENERAL$Audit_General$emea0036",
        ] {
            assert_eq!(parse_content_id(id), None, "{id}");
        }
    }
}
