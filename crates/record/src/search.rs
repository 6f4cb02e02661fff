//! The text a free-text index holds for a record: who, what, on which row, from where, and the
//! values involved, lower-cased and separated by newlines. Identifiers are included so that a
//! search for a GUID or an e-mail address finds every record that mentions it.

use crate::activity::ActivityRecord;

impl ActivityRecord {
    /// Lower-cased, newline-separated text for a free-text index: actor, user key, operation,
    /// SDK message, table, row id, primary name, object id, item URL, client address, user agent,
    /// organization, correlation id, `QueryResults` ids, and `Fields` as `name=value`.
    pub fn search_text(&self) -> String {
        let mut parts: Vec<&str> = Vec::with_capacity(16);
        parts.push(self.actor());
        parts.extend(self.user_key.as_deref());
        parts.push(&self.operation);
        parts.extend(self.object_id.as_deref());
        parts.extend(self.client_ip.original.as_deref());
        if let Some(dynamics) = &self.dynamics {
            parts.extend(dynamics.message.as_deref());
            parts.extend(dynamics.entity_name.as_deref());
            parts.extend(dynamics.entity_id.as_deref());
            parts.extend(dynamics.primary_field_value.as_deref());
            parts.extend(dynamics.item_url.as_deref());
            parts.extend(dynamics.user_agent.as_deref());
            parts.extend(dynamics.organization_unique_name.as_deref());
            parts.extend(dynamics.correlation_id.as_deref());
            parts.extend(dynamics.query_result_ids.iter().map(String::as_str));
        }
        let mut text = parts.join("\n");
        for field in self.fields() {
            text.push('\n');
            text.push_str(&field.name);
            text.push('=');
            text.push_str(field.value.as_deref().unwrap_or(""));
        }
        text.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use crate::activity::parse_record;

    #[test]
    fn search_text_holds_who_what_and_values() {
        let record = parse_record(
            br#"{"Id":"1","CreationTime":"2026-06-01T09:14:22","RecordType":21,
                "Operation":"CrmDefaultActivity","Workload":"CRM","UserUpn":"Alice@Contoso.com",
                "Message":"Update","EntityName":"account","PrimaryFieldValue":"Fabrikam",
                "EntityId":"5F3B0B3E-1C2D-4E5F-9A8B-7C6D5E4F3A2B","ClientIP":"203.0.113.24",
                "Fields":[{"Name":"telephone1","Value":"555 0100"}]}"#,
        )
        .expect("valid");
        let text = record.search_text();
        for needle in [
            "alice@contoso.com",
            "update",
            "account",
            "fabrikam",
            "5f3b0b3e-1c2d-4e5f-9a8b-7c6d5e4f3a2b",
            "203.0.113.24",
            "telephone1=555 0100",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert_eq!(text, text.to_lowercase());
    }
}
