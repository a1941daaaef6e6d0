//! Validated names: apps, blocks, volumes, networks and plugin references.
//!
//! Names end up in engine object names, labels, lock paths and CLI output, so
//! they are held to one small alphabet: lowercase ASCII letters and digits,
//! `-` and `_`, starting with a letter or digit, 1 to 63 characters (a DNS
//! label's length, so a block name can serve as a network alias).

use std::borrow::{Borrow, Cow};
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// The longest name accepted.
pub const NAME_MAX: usize = 63;

/// The rule, as a JSON Schema pattern (kept in step with [`check_name`]).
const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

/// A name that breaks the rules, with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{name}': {reason}")]
pub struct NameError {
    /// What kind of name it was (`block name`, `app name`, ...).
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// The rule it breaks.
    pub reason: &'static str,
}

fn check_name(name: &str, what: &'static str) -> Result<(), NameError> {
    let fail = |reason| {
        Err(NameError {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() || name.len() > NAME_MAX {
        return fail("must be 1 to 63 characters");
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if !name.bytes().all(allowed) {
        return fail("may hold only a-z, 0-9, '-' and '_'");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("must start with a letter or a digit");
    }
    Ok(())
}

/// A newtype over `String` whose values are checked (and possibly
/// normalised) by `$check` whenever one is built, parsed or deserialised,
/// so holding one is proof it passed. The names here and the container
/// settings (`super::settings`) share it; what differs between them is the
/// error type, the check and the schema, hence the parameters.
///
/// The short form is the settings': `Type, check_fn, "description"`, with a
/// `String` error and a schema that only describes.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:path, $description:literal) => {
        $crate::name::checked_string!(
            $(#[$doc])*
            $name,
            check: $check => String,
            schema: { "type": "string", "description": $description }
        );
    };
    (
        $(#[$doc:meta])*
        $name:ident,
        check: $check:expr => $error:ty,
        schema: $schema:tt
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `text`; the error says what is wrong with it.
            pub fn new(text: &str) -> Result<Self, $error> {
                ($check)(text).map($name)
            }

            /// The value as written (normalised where the check says so).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, $error> {
                Self::new(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'_, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::new(&s).map_err(::serde::de::Error::custom)
            }
        }

        impl ::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut ::schemars::SchemaGenerator) -> ::schemars::Schema {
                ::schemars::json_schema!($schema)
            }
        }
    };
}
pub(crate) use checked_string;

/// A name type: [`checked_string!`] with the naming rule, its error and its
/// schema, and `Borrow<str>` besides.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        checked_string!(
            $(#[$doc])*
            $name,
            check: |name: &str| check_name(name, $what).map(|()| name.to_owned()) => NameError,
            schema: {
                "type": "string",
                "pattern": NAME_PATTERN,
                "description": concat!(
                    "A ", $what, ": lowercase letters, digits, '-' and '_', ",
                    "starting with a letter or digit, 1 to 63 characters."
                ),
            }
        );

        // Lets maps keyed by name be looked up with a `&str`; the order of
        // the name and of its string are the same, as `Borrow` requires.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of an app in the target state (a key of `apps`).
    AppName,
    "app name"
);
name_type!(
    /// The name of a block within its app's release (a key of `blocks`).
    BlockName,
    "block name"
);
name_type!(
    /// The name of a volume within its app (a key of the app's `volumes`).
    VolumeName,
    "volume name"
);
name_type!(
    /// The name of a network within its app (a key of the app's `networks`).
    NetworkName,
    "network name"
);

impl NetworkName {
    /// The network a block joins when it names none, as compose's `default`.
    pub fn default_network() -> Self {
        NetworkName("default".to_owned())
    }
}

/// A block within the whole target state: its app and its name, shown as
/// `app/block`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId {
    /// The app.
    pub app: AppName,
    /// The block.
    pub block: BlockName,
}

impl BlockId {
    /// The block `block` of app `app`.
    pub fn new(app: &AppName, block: &BlockName) -> Self {
        BlockId {
            app: app.clone(),
            block: block.clone(),
        }
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.block)
    }
}

/// A plugin's name: `[a-z0-9-]`, 1 to 64 characters, not starting or ending
/// with `-`. It names the component file (`<name>.wasm`), its log events and
/// its private key-value namespace, so it must be safe in all three.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PluginName(String);

impl PluginName {
    /// Checks `name` against the rule above.
    pub fn new(name: &str) -> Result<Self, String> {
        let ok_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if name.is_empty() || name.len() > 64 {
            return Err(format!("'{name}' must be 1 to 64 characters"));
        }
        if !ok_chars || name.starts_with('-') || name.ends_with('-') {
            return Err(format!(
                "'{name}' may hold only a-z, 0-9 and '-', and not start or end with '-'"
            ));
        }
        Ok(PluginName(name.to_owned()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PluginName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PluginName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A plugin a block is paired with, by name. The rule is the plugin host's
/// ([`PluginName`], defined here so the pure state needs no plugin host); this wrapper exists so the target state can describe it
/// in its JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PluginRef(PluginName);

impl PluginRef {
    /// Checks `name` against the plugin host's naming rule.
    pub fn new(name: &str) -> Result<Self, String> {
        PluginName::new(name)
            .map(PluginRef)
            .map_err(|e| format!("invalid plugin name {e}"))
    }

    /// The plugin's name, as the plugin host knows it.
    pub fn plugin_name(&self) -> &PluginName {
        &self.0
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for PluginRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        PluginRef::new(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for PluginRef {
    fn schema_name() -> Cow<'static, str> {
        "PluginRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$",
            "description": "A plugin's name, as in its plugin.toml: a-z, 0-9 and '-', \
                            not starting or ending with '-', 1 to 64 characters.",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match BlockName::new(input) {
            Ok(name) => format!("ok {name}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn names() {
        check("web", "ok web");
        check("web-1_a", "ok web-1_a");
        check("0db", "ok 0db");
        check(&"a".repeat(63), &format!("ok {}", "a".repeat(63)));
        check("", "invalid block name '': must be 1 to 63 characters");
        check(
            &"a".repeat(64),
            &format!(
                "invalid block name '{}': must be 1 to 63 characters",
                "a".repeat(64)
            ),
        );
        check(
            "Web",
            "invalid block name 'Web': may hold only a-z, 0-9, '-' and '_'",
        );
        check(
            "a.b",
            "invalid block name 'a.b': may hold only a-z, 0-9, '-' and '_'",
        );
        check(
            "a/b",
            "invalid block name 'a/b': may hold only a-z, 0-9, '-' and '_'",
        );
        check(
            "-web",
            "invalid block name '-web': must start with a letter or a digit",
        );
        check(
            "_web",
            "invalid block name '_web': must start with a letter or a digit",
        );
        check(
            "wéb",
            "invalid block name 'wéb': may hold only a-z, 0-9, '-' and '_'",
        );
    }

    #[test]
    fn plugin_refs_follow_the_plugin_host() {
        assert!(PluginRef::new("time-ntp").is_ok());
        assert!(PluginRef::new("time_ntp").is_err());
        assert_eq!(
            PluginRef::new("time-ntp").map(|p| p.plugin_name().to_string()),
            Ok("time-ntp".to_owned())
        );
    }
}
