//! The target state's JSON Schema, generated from the Rust types.
//!
//! `docs/target-state.schema.json` is this output, committed; a unit test
//! fails when it is stale. Regenerate with
//! `OSB_UPDATE_SCHEMA=1 cargo test -p osb-state schema`.

use super::target::TargetState;

/// The JSON Schema of [`TargetState`].
pub fn target_state_schema() -> schemars::Schema {
    schemars::schema_for!(TargetState)
}

/// The schema as the committed file holds it: pretty JSON and a final newline.
pub fn target_state_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&target_state_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/target-state.schema.json"
    );

    #[test]
    fn schema_file_is_current() {
        let generated = target_state_schema_json();
        if std::env::var_os("OSB_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
            std::fs::write(COMMITTED, &generated)
                .unwrap_or_else(|e| panic!("writing {COMMITTED}: {e}"));
            return;
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/target-state.schema.json is stale (or missing): the target state types changed.\n\
             Regenerate it with: OSB_UPDATE_SCHEMA=1 cargo test -p osb-state schema"
        );
    }

    #[test]
    fn schema_accepts_what_the_parser_accepts() {
        // Spot checks that the schema describes the real format: the
        // version is pinned, unknown fields are refused.
        let schema = serde_json::to_value(target_state_schema()).unwrap_or_default();
        assert_eq!(
            schema["properties"]["version"]["$ref"],
            "#/$defs/FormatVersion"
        );
        assert_eq!(schema["$defs"]["FormatVersion"]["const"], 1);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["Block"]["additionalProperties"], false);
    }
}
