//! Arrays where the target state has objects, refused before the typed
//! parse.
//!
//! serde's derived visitors for structs (and struct variants) accept a
//! sequence as well as a map, reading its elements as the fields in order:
//! `[1, {}]` would read as version 1 with no apps, a target that removes
//! every app. So the document is first walked beside the target state's
//! JSON Schema ([`crate::schema`], generated from the types, so it follows
//! them as fields are added), and an array wherever the schema wants an
//! object and takes no array is refused, naming the field:
//! `apps.main: expected an object, found an array`. Every other mismatch is
//! the typed parse's to report. Free-form objects (a `requires` entry) have
//! no schema inside, so anything goes there.

use std::sync::LazyLock;

use serde_json::{Map, Value};

/// The target state's schema, generated once.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| crate::schema::target_state_schema().to_value());

/// How deep `$ref`s and combinators are followed without descending into
/// the document: far beyond what the generated schema nests, and a bound
/// should a type ever refer to itself.
const MAX_SCHEMA_DEPTH: usize = 64;

/// An array where an object belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Misplaced {
    /// Where, as `serde_path_to_error` names it: `apps.main`, or `.` for the
    /// top.
    pub path: String,
    /// `expected an object, found an array`.
    pub message: String,
}

/// Refuses the first array in `document` where the target state's schema
/// wants an object.
pub(super) fn check(document: &Value) -> Result<(), Misplaced> {
    let walker = Walker { root: &SCHEMA };
    walker.walk(document, &SCHEMA, &mut Vec::new(), 0)
}

/// The JSON kinds a schema can admit, in the order messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Number,
    Boolean,
    Null,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::String,
        Kind::Number,
        Kind::Boolean,
        Kind::Object,
        Kind::Array,
        Kind::Null,
    ];

    fn of(value: &Value) -> Kind {
        match value {
            Value::Object(_) => Kind::Object,
            Value::Array(_) => Kind::Array,
            Value::String(_) => Kind::String,
            Value::Number(_) => Kind::Number,
            Value::Bool(_) => Kind::Boolean,
            Value::Null => Kind::Null,
        }
    }

    /// Whether a schema `type` names this kind.
    fn is_named(self, name: &str) -> bool {
        match self {
            Kind::Object => name == "object",
            Kind::Array => name == "array",
            Kind::String => name == "string",
            Kind::Number => name == "number" || name == "integer",
            Kind::Boolean => name == "boolean",
            Kind::Null => name == "null",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Boolean => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// One step of the path into the document.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn render(path: &[Segment<'_>]) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let mut text = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

struct Walker<'s> {
    root: &'s Value,
}

impl<'s> Walker<'s> {
    /// The schema a `$ref` (`#/$defs/App`) points to.
    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        self.root.pointer(reference.strip_prefix('#')?)
    }

    /// Whether `schema` can accept a value of `kind` at all.
    fn admits(&self, schema: &Value, kind: Kind, depth: usize) -> bool {
        let Value::Object(s) = schema else {
            // `true` takes anything, `false` nothing.
            return schema.as_bool().unwrap_or(true);
        };
        if depth > MAX_SCHEMA_DEPTH {
            return true;
        }
        if let Some(target) = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
            && !self.admits(target, kind, depth + 1)
        {
            return false;
        }
        let typed = match s.get("type") {
            Some(Value::String(name)) => kind.is_named(name),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .any(|name| kind.is_named(name)),
            _ => match s.get("const") {
                Some(constant) => Kind::of(constant) == kind,
                None => true,
            },
        };
        if !typed {
            return false;
        }
        let all = s
            .get("allOf")
            .and_then(Value::as_array)
            .is_none_or(|all| all.iter().all(|b| self.admits(b, kind, depth + 1)));
        let one = ["oneOf", "anyOf"].iter().all(|key| {
            s.get(*key)
                .and_then(Value::as_array)
                .is_none_or(|branches| branches.iter().any(|b| self.admits(b, kind, depth + 1)))
        });
        all && one
    }

    /// `expected a string or an object, found an array`.
    fn misplaced(&self, schema: &Value, path: &[Segment<'_>], depth: usize) -> Misplaced {
        let expected: Vec<&str> = Kind::ALL
            .into_iter()
            // `null` is what an absent optional field reads as, never what
            // the writer of an array meant.
            .filter(|kind| *kind != Kind::Null && self.admits(schema, *kind, depth))
            .map(Kind::article)
            .collect();
        Misplaced {
            path: render(path),
            message: format!("expected {}, found an array", expected.join(" or ")),
        }
    }

    fn walk<'d>(
        &self,
        value: &'d Value,
        schema: &'s Value,
        path: &mut Vec<Segment<'d>>,
        depth: usize,
    ) -> Result<(), Misplaced> {
        let Value::Object(s) = schema else {
            return Ok(());
        };
        if depth > MAX_SCHEMA_DEPTH {
            return Ok(());
        }
        if value.is_array()
            && !self.admits(schema, Kind::Array, depth)
            && self.admits(schema, Kind::Object, depth)
        {
            return Err(self.misplaced(schema, path, depth));
        }
        if let Some(target) = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            self.walk(value, target, path, depth + 1)?;
        }
        for branch in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.walk(value, branch, path, depth + 1)?;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array) {
                let kind = Kind::of(value);
                let fitting = branches.iter().filter(|b| self.admits(b, kind, depth + 1));
                self.any(value, fitting, path, depth + 1)?;
            }
        }
        match value {
            Value::Array(items) => {
                if let Some(item_schema) = s.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Segment::Index(i));
                        self.walk(item, item_schema, path, depth + 1)?;
                        path.pop();
                    }
                }
            }
            Value::Object(members) => self.members(members, s, path, depth)?,
            _ => {}
        }
        Ok(())
    }

    /// An object's members against `properties`, else `patternProperties`
    /// (maps keyed by names; the typed parse checks the names), else
    /// `additionalProperties`.
    fn members<'d>(
        &self,
        members: &'d Map<String, Value>,
        schema: &'s Map<String, Value>,
        path: &mut Vec<Segment<'d>>,
        depth: usize,
    ) -> Result<(), Misplaced> {
        let properties = schema.get("properties").and_then(Value::as_object);
        let patterns = schema
            .get("patternProperties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let additional = schema.get("additionalProperties");
        for (key, member) in members {
            path.push(Segment::Key(key));
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                self.walk(member, property, path, depth + 1)?;
            } else if let Some(patterns) = patterns {
                self.any(member, patterns.values(), path, depth + 1)?;
            } else if let Some(additional) = additional {
                self.walk(member, additional, path, depth + 1)?;
            }
            path.pop();
        }
        Ok(())
    }

    /// Passes when `value` passes one of `schemas` (or there are none: the
    /// typed parse then says what is wrong); else the first one's error.
    fn any<'d>(
        &self,
        value: &'d Value,
        schemas: impl Iterator<Item = &'s Value>,
        path: &mut Vec<Segment<'d>>,
        depth: usize,
    ) -> Result<(), Misplaced> {
        let mut first = None;
        let len = path.len();
        for schema in schemas {
            let result = self.walk(value, schema, path, depth);
            // A failed walk returns from wherever it was.
            path.truncate(len);
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use crate::{TargetError, TargetState};

    /// `from_json` of `text`: `ok` or the error.
    fn read(text: &str) -> String {
        match TargetState::from_json(text) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    /// A target whose app `main` is `app`.
    fn with_app(app: &str) -> String {
        format!(r#"{{"version": 1, "apps": {{"main": {app}}}}}"#)
    }

    /// A target whose block `web` is `block`.
    fn with_block(block: &str) -> String {
        with_app(&format!(
            r#"{{"class": "app", "release": {{"version": "1.0.0", "blocks": {{"web": {block}}}}}}}"#
        ))
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused_naming_the_field() {
        let table: &[(String, &str)] = &[
            // The shape that read as "no apps": every app removed.
            ("[1, {}]".to_owned(), "expected an object, found an array"),
            (
                r#"[1, {"main": {}}]"#.to_owned(),
                "expected an object, found an array",
            ),
            // Not an unsupported version: there is no `version` field.
            ("[2, {}]".to_owned(), "expected an object, found an array"),
            (
                r#"{"version": 1, "apps": []}"#.to_owned(),
                "apps: expected an object, found an array",
            ),
            (
                with_app(r#"["app", {"version": "1.0.0", "blocks": {}}]"#),
                "apps.main: expected an object, found an array",
            ),
            (
                with_app(r#"{"class": "app", "release": ["1.0.0", "final", {}]}"#),
                "apps.main.release: expected an object, found an array",
            ),
            (
                with_app(
                    r#"{"class": "app", "release": {"version": "1.0.0", "blocks": [{"image": "web"}]}}"#,
                ),
                "apps.main.release.blocks: expected an object, found an array",
            ),
            (
                with_block(r#"["web"]"#),
                "apps.main.release.blocks.web: expected an object, found an array",
            ),
            (
                with_app(
                    r#"{"class": "app", "release": {"version": "1.0.0", "blocks": {}}, "volumes": {"data": [null, {}]}}"#,
                ),
                "apps.main.volumes.data: expected an object, found an array",
            ),
            (
                with_app(
                    r#"{"class": "app", "release": {"version": "1.0.0", "blocks": {}}, "networks": {"back": ["bridge"]}}"#,
                ),
                "apps.main.networks.back: expected an object, found an array",
            ),
            (
                with_block(r#"{"image": "web", "healthcheck": [{"cmd": ["true"]}, "1s"]}"#),
                "apps.main.release.blocks.web.healthcheck: expected an object, found an array",
            ),
            (
                with_block(r#"{"image": "web", "ports": [[80, 8080]]}"#),
                "apps.main.release.blocks.web.ports[0]: expected an object, found an array",
            ),
            (
                with_block(r#"{"image": "web", "volumes": [["volume", "data", "/data"]]}"#),
                "apps.main.release.blocks.web.volumes[0]: expected an object, found an array",
            ),
            (
                with_block(r#"{"image": "web", "environment": ["A=1"]}"#),
                "apps.main.release.blocks.web.environment: expected an object, found an array",
            ),
            // A struct variant inside an enum that is also a string.
            (
                with_block(r#"{"image": "web", "update_strategy": {"hand-over": ["1m"]}}"#),
                "apps.main.release.blocks.web.update_strategy.hand-over: expected an object, found an array",
            ),
            (
                with_block(
                    r#"{"image": "web", "update_strategy": ["hand-over", {"timeout": "1m"}]}"#,
                ),
                "apps.main.release.blocks.web.update_strategy: expected a string or an object, found an array",
            ),
            (
                with_block(r#"{"image": "web", "requires": [["arch", "aarch64"]]}"#),
                "apps.main.release.blocks.web.requires[0]: expected an object, found an array",
            ),
        ];
        for (text, expect) in table {
            assert_eq!(read(text), *expect, "{text}");
        }
    }

    #[test]
    fn lists_where_lists_belong_and_free_form_requirements_pass() {
        let table = [
            with_block(
                r#"{"image": "web", "command": ["sh", "-c", "true"],
                    "volumes": [{"type": "tmpfs", "target": "/tmp/x"}],
                    "healthcheck": {"test": {"cmd": ["true"]}}}"#,
            ),
            // A contract requirement is the contract module's: anything
            // goes inside it, arrays included.
            with_block(
                r#"{"image": "web", "requires": [{"type": "hw.device-type", "data": {"arch": ["aarch64", "armv7"], "nested": [[1], {"x": []}]}}]}"#,
            ),
        ];
        for text in table {
            assert_eq!(read(&text), "ok", "{text}");
        }
    }

    #[test]
    fn other_mismatches_are_left_to_the_typed_parse() {
        // Not an array where an object belongs: the typed parse's message,
        // with its path.
        let err = TargetState::from_json(&with_block(r#"{"image": ["web"]}"#));
        assert!(
            matches!(&err, Err(TargetError::Parse { path, .. }) if path == "apps.main.release.blocks.web.image"),
            "{err:?}"
        );
        // A syntax error is still reported with its position.
        assert!(read(r#"{"version": 1, "apps": "#).contains("EOF"));
        // A newer format is still refused as such.
        assert_eq!(
            read(r#"{"version": 2, "apps": []}"#),
            "unsupported target state version 2 (this runtime reads version 1)"
        );
    }
}
