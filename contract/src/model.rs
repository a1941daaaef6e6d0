//! The contract model, read from JSON as contrato reads it.

use serde_json::{Map, Value};

use crate::error::ContractError;
use crate::version::VersionReq;

/// The largest contract accepted, in bytes of JSON. balena's largest
/// device-type contracts are a few KB; a universe of a few hundred is well
/// under a MB.
pub const MAX_CONTRACT_BYTES: usize = 4 * 1024 * 1024;

/// The most contracts (the root and its descendants) one document may hold.
pub const MAX_CONTRACTS: usize = 4096;

/// The most requirements (matchers and groups, at any depth) one document
/// may hold; with [`MAX_CONTRACTS`] it bounds the work of a check.
pub const MAX_REQUIREMENTS: usize = 4096;

/// The deepest nesting of `children` (and of `or`/`not` groups) accepted.
/// JSON nesting as a whole is bounded at 128 by `serde_json`.
pub const MAX_NESTING: usize = 32;

/// A contract: what a piece of hardware or software is (`type`, `slug`,
/// `version`, `data`), what it needs of its context (`requires`), what it
/// offers beyond itself (`provides`) and what it is made of (`children`).
///
/// Fields contrato knows but this crate does not interpret yet (`assets`,
/// `partials`, `variants`, `tags`, `conflicts`, `capabilities`,
/// `componentVersion`, ...) and any others are kept in [`Contract::extra`],
/// as contrato keeps the whole raw object: a newer contract must still load.
/// Templates (`{{this.version}}`) are not interpolated and `variants` are
/// not expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// `type`, e.g. `hw.device-type`, `arch.sw`, `sw.os`.
    pub kind: String,
    /// `slug`, the contract's name within its type, e.g. `raspberrypi4-64`.
    pub slug: String,
    /// `version`, free-form: semver or not (`1`, `wheezy`).
    pub version: Option<String>,
    /// `name`, for people.
    pub name: Option<String>,
    /// `aliases`: other slugs a requirement may name this contract by.
    pub aliases: Vec<String>,
    /// `data`: the facts requirements match against (`arch`, ...).
    pub data: Map<String, Value>,
    /// `requires`: all must hold in the context.
    pub requires: Vec<Requirement>,
    /// `provides`: what this contract offers besides being itself.
    pub provides: Vec<Provided>,
    /// `children`, flattened in document order (contrato also accepts a
    /// tree keyed by type and slug; any object with a `slug` is a contract).
    pub children: Vec<Contract>,
    /// Every other top-level field, kept as written.
    pub extra: Map<String, Value>,
}

/// One entry of `requires`.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// `{ "type": ..., "slug"?: ..., "version"?: ..., "data"?: ... }`.
    Match(Matcher),
    /// `{ "or": [...] }`: at least one must hold (an empty list holds, as
    /// in contrato).
    Or(Vec<Requirement>),
    /// `{ "not": [...] }`: none may hold.
    Not(Vec<Requirement>),
}

/// A requirement on one contract or provided entry of the context.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// The `type` the candidate must have.
    pub kind: String,
    /// The slug the candidate must have (or have as an alias).
    pub slug: Option<String>,
    /// The versions the candidate may have.
    pub version: Option<VersionReq>,
    /// A subset of the candidate's `data`, compared recursively.
    pub data: Map<String, Value>,
}

/// One entry of `provides`: `{ "type": ..., "slug"?, "version"?, "data"? }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Provided {
    /// Its `type`.
    pub kind: String,
    /// Its `slug`, if it has one.
    pub slug: Option<String>,
    /// Its `version`, if it has one.
    pub version: Option<String>,
    /// Its `data`.
    pub data: Map<String, Value>,
}

impl Contract {
    /// A contract with only a type and a slug, to build contexts with.
    pub fn new(kind: impl Into<String>, slug: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            slug: slug.into(),
            version: None,
            name: None,
            aliases: Vec::new(),
            data: Map::new(),
            requires: Vec::new(),
            provides: Vec::new(),
            children: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Reads a contract from JSON text; see [`Contract::from_json`].
    pub fn from_json_str(json: &str) -> Result<Self, ContractError> {
        Self::from_json(json.as_bytes())
    }

    /// Reads a contract from JSON, refusing documents over
    /// [`MAX_CONTRACT_BYTES`], nested deeper than `serde_json` allows or
    /// [`MAX_NESTING`], or holding more than [`MAX_CONTRACTS`] contracts or
    /// [`MAX_REQUIREMENTS`] requirements. Errors name the offending field
    /// (`requires[2]: ...`).
    pub fn from_json(json: &[u8]) -> Result<Self, ContractError> {
        if json.len() > MAX_CONTRACT_BYTES {
            return Err(ContractError::TooLarge {
                size: json.len(),
                limit: MAX_CONTRACT_BYTES,
            });
        }
        let value: Value = serde_json::from_slice(json)?;
        let mut reader = Reader::default();
        reader.contract(value, "", 0)
    }

    /// `type slug@version`, for reports.
    pub fn label(&self) -> String {
        match &self.version {
            Some(version) => format!("{} {}@{}", self.kind, self.slug, version),
            None => format!("{} {}", self.kind, self.slug),
        }
    }

    /// The contract's children, their children, and so on, depth first.
    pub fn descendants(&self) -> Vec<&Contract> {
        let mut out = Vec::new();
        let mut stack: Vec<&Contract> = self.children.iter().rev().collect();
        while let Some(contract) = stack.pop() {
            out.push(contract);
            stack.extend(contract.children.iter().rev());
        }
        out
    }

    /// Whether `slug` names this contract, by its slug or an alias.
    pub fn answers_to(&self, slug: &str) -> bool {
        self.slug == slug || self.aliases.iter().any(|alias| alias == slug)
    }

    /// The contract as JSON that [`Contract::from_json`] reads back to an
    /// equal contract: a contract assembled on the device can be shown,
    /// stored or handed to a policy plugin as contract JSON. Children come
    /// out as a list; empty fields are left out.
    pub fn to_json(&self) -> Value {
        // The interpreted fields go in last: they win over an `extra` entry
        // of the same name, which only a contract built by hand can have.
        let mut map = self.extra.clone();
        map.insert("type".to_owned(), Value::String(self.kind.clone()));
        map.insert("slug".to_owned(), Value::String(self.slug.clone()));
        if let Some(version) = &self.version {
            map.insert("version".to_owned(), Value::String(version.clone()));
        }
        if let Some(name) = &self.name {
            map.insert("name".to_owned(), Value::String(name.clone()));
        }
        insert_list(
            &mut map,
            "aliases",
            self.aliases.iter().cloned().map(Value::String),
        );
        if !self.data.is_empty() {
            map.insert("data".to_owned(), Value::Object(self.data.clone()));
        }
        insert_list(
            &mut map,
            "requires",
            self.requires.iter().map(Requirement::to_json),
        );
        insert_list(
            &mut map,
            "provides",
            self.provides.iter().map(Provided::to_json),
        );
        insert_list(
            &mut map,
            "children",
            self.children.iter().map(Contract::to_json),
        );
        Value::Object(map)
    }
}

impl Requirement {
    /// The requirement as a `requires` entry.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Match(matcher) => {
                let mut map = Map::new();
                map.insert("type".to_owned(), Value::String(matcher.kind.clone()));
                if let Some(slug) = &matcher.slug {
                    map.insert("slug".to_owned(), Value::String(slug.clone()));
                }
                if let Some(version) = &matcher.version {
                    map.insert(
                        "version".to_owned(),
                        Value::String(version.as_str().to_owned()),
                    );
                }
                if !matcher.data.is_empty() {
                    map.insert("data".to_owned(), Value::Object(matcher.data.clone()));
                }
                Value::Object(map)
            }
            Self::Or(members) => group("or", members),
            Self::Not(members) => group("not", members),
        }
    }
}

impl Provided {
    /// The entry as a `provides` entry.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("type".to_owned(), Value::String(self.kind.clone()));
        if let Some(slug) = &self.slug {
            map.insert("slug".to_owned(), Value::String(slug.clone()));
        }
        if let Some(version) = &self.version {
            map.insert("version".to_owned(), Value::String(version.clone()));
        }
        if !self.data.is_empty() {
            map.insert("data".to_owned(), Value::Object(self.data.clone()));
        }
        Value::Object(map)
    }
}

fn group(name: &str, members: &[Requirement]) -> Value {
    let mut map = Map::new();
    map.insert(
        name.to_owned(),
        Value::Array(members.iter().map(Requirement::to_json).collect()),
    );
    Value::Object(map)
}

fn insert_list(map: &mut Map<String, Value>, field: &str, items: impl Iterator<Item = Value>) {
    let items: Vec<Value> = items.collect();
    if !items.is_empty() {
        map.insert(field.to_owned(), Value::Array(items));
    }
}

/// Counts what one document holds, against the limits.
#[derive(Default)]
struct Reader {
    contracts: usize,
    requirements: usize,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn invalid(path: &str, message: impl Into<String>) -> ContractError {
    ContractError::Invalid {
        path: if path.is_empty() {
            "(root)".to_owned()
        } else {
            path.to_owned()
        },
        message: message.into(),
    }
}

fn string(value: Value, path: &str) -> Result<String, ContractError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind_of(&other)),
        )),
    }
}

fn object(value: Value, path: &str) -> Result<Map<String, Value>, ContractError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            path,
            format!("expected an object, found {}", kind_of(&other)),
        )),
    }
}

fn array(value: Value, path: &str) -> Result<Vec<Value>, ContractError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(invalid(
            path,
            format!("expected an array, found {}", kind_of(&other)),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn version_req(value: Value, path: &str) -> Result<VersionReq, ContractError> {
    let raw = string(value, path)?;
    VersionReq::parse(&raw).map_err(|source| ContractError::Range {
        path: path.to_owned(),
        source,
    })
}

impl Reader {
    fn contract(
        &mut self,
        value: Value,
        path: &str,
        depth: usize,
    ) -> Result<Contract, ContractError> {
        if depth > MAX_NESTING {
            return Err(invalid(
                path,
                format!("children nested deeper than {MAX_NESTING}"),
            ));
        }
        self.contracts += 1;
        if self.contracts > MAX_CONTRACTS {
            return Err(ContractError::TooMany {
                what: "contracts",
                limit: MAX_CONTRACTS,
            });
        }
        let mut map = object(value, path)?;
        let mut take = |field: &str| map.remove(field);
        let kind = match take("type") {
            Some(v) => string(v, &join(path, "type"))?,
            None => return Err(invalid(path, "missing `type`")),
        };
        let slug = match take("slug") {
            Some(v) => string(v, &join(path, "slug"))?,
            None => return Err(invalid(path, "missing `slug`")),
        };
        let version = take("version")
            .map(|v| string(v, &join(path, "version")))
            .transpose()?;
        let name = take("name")
            .map(|v| string(v, &join(path, "name")))
            .transpose()?;
        let mut aliases = Vec::new();
        if let Some(v) = take("aliases") {
            let at = join(path, "aliases");
            for (i, alias) in array(v, &at)?.into_iter().enumerate() {
                aliases.push(string(alias, &format!("{at}[{i}]"))?);
            }
        }
        let data = take("data")
            .map(|v| object(v, &join(path, "data")))
            .transpose()?
            .unwrap_or_default();
        let mut requires = Vec::new();
        if let Some(v) = take("requires") {
            let at = join(path, "requires");
            for (i, item) in array(v, &at)?.into_iter().enumerate() {
                requires.push(self.requirement(item, &format!("{at}[{i}]"), 0)?);
            }
        }
        let mut provides = Vec::new();
        if let Some(v) = take("provides") {
            let at = join(path, "provides");
            for (i, item) in array(v, &at)?.into_iter().enumerate() {
                provides.push(provided(item, &format!("{at}[{i}]"))?);
            }
        }
        let mut children = Vec::new();
        if let Some(v) = take("children") {
            self.children(v, &join(path, "children"), depth + 1, &mut children)?;
        }
        Ok(Contract {
            kind,
            slug,
            version,
            name,
            aliases,
            data,
            requires,
            provides,
            children,
            extra: map,
        })
    }

    /// contrato's children are a list or a tree of namespaces (`{"hw":
    /// {"device-type": {...}}}`): any object with a `slug` is a contract,
    /// any other object a namespace.
    fn children(
        &mut self,
        value: Value,
        path: &str,
        depth: usize,
        out: &mut Vec<Contract>,
    ) -> Result<(), ContractError> {
        if depth > MAX_NESTING {
            return Err(invalid(
                path,
                format!("children nested deeper than {MAX_NESTING}"),
            ));
        }
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    if is_contract(&item) {
                        out.push(self.contract(item, &at, depth)?);
                    } else {
                        self.children(item, &at, depth + 1, out)?;
                    }
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let at = join(path, &key);
                    if is_contract(&item) {
                        out.push(self.contract(item, &at, depth)?);
                    } else {
                        self.children(item, &at, depth + 1, out)?;
                    }
                }
            }
            other => {
                return Err(invalid(
                    path,
                    format!(
                        "expected a contract, a list or a namespace object, found {}",
                        kind_of(&other)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn requirement(
        &mut self,
        value: Value,
        path: &str,
        depth: usize,
    ) -> Result<Requirement, ContractError> {
        if depth > MAX_NESTING {
            return Err(invalid(
                path,
                format!("groups nested deeper than {MAX_NESTING}"),
            ));
        }
        self.requirements += 1;
        if self.requirements > MAX_REQUIREMENTS {
            return Err(ContractError::TooMany {
                what: "requirements",
                limit: MAX_REQUIREMENTS,
            });
        }
        let mut map = object(value, path)?;
        for group in ["or", "not"] {
            if let Some(items) = map.remove(group) {
                if let Some(extra) = map.keys().next() {
                    return Err(invalid(
                        path,
                        format!("`{group}` must be the only field, found `{extra}` too"),
                    ));
                }
                let at = join(path, group);
                let mut members = Vec::new();
                for (i, item) in array(items, &at)?.into_iter().enumerate() {
                    members.push(self.requirement(item, &format!("{at}[{i}]"), depth + 1)?);
                }
                return Ok(if group == "or" {
                    Requirement::Or(members)
                } else {
                    Requirement::Not(members)
                });
            }
        }
        let Some(kind) = map.remove("type") else {
            return Err(invalid(
                path,
                "a requirement needs `type` (a matcher), `or` or `not`",
            ));
        };
        let kind = string(kind, &join(path, "type"))?;
        let slug = map
            .remove("slug")
            .map(|v| string(v, &join(path, "slug")))
            .transpose()?;
        let version = map
            .remove("version")
            .map(|v| version_req(v, &join(path, "version")))
            .transpose()?;
        let data = map
            .remove("data")
            .map(|v| object(v, &join(path, "data")))
            .transpose()?
            .unwrap_or_default();
        // contrato would match any other field against the candidate's raw
        // object; refusing it keeps a typo from turning into a requirement
        // that silently never holds.
        if let Some(extra) = map.keys().next() {
            return Err(invalid(
                path,
                format!(
                    "unknown field `{extra}` in a requirement (expected type, slug, version, data)"
                ),
            ));
        }
        Ok(Requirement::Match(Matcher {
            kind,
            slug,
            version,
            data,
        }))
    }
}

/// A child without a slug but with a string `type` is a contract missing
/// its slug (reported as such), not a namespace.
fn is_contract(value: &Value) -> bool {
    value.get("slug").is_some() || value.get("type").is_some_and(Value::is_string)
}

fn provided(value: Value, path: &str) -> Result<Provided, ContractError> {
    let mut map = object(value, path)?;
    let Some(kind) = map.remove("type") else {
        return Err(invalid(path, "a provided entry needs `type`"));
    };
    let kind = string(kind, &join(path, "type"))?;
    let slug = map
        .remove("slug")
        .map(|v| string(v, &join(path, "slug")))
        .transpose()?;
    let version = map
        .remove("version")
        .map(|v| string(v, &join(path, "version")))
        .transpose()?;
    let data = map
        .remove("data")
        .map(|v| object(v, &join(path, "data")))
        .transpose()?
        .unwrap_or_default();
    if let Some(extra) = map.keys().next() {
        return Err(invalid(
            path,
            format!(
                "unknown field `{extra}` in a provided entry (expected type, slug, version, data)"
            ),
        ));
    }
    Ok(Provided {
        kind,
        slug,
        version,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is read comes back from `to_json` as it was, groups, ranges,
    /// provided entries, namespaced children and unknown fields included.
    #[test]
    fn to_json_reads_back_equal() {
        let text = r#"{
            "type": "sw.os", "slug": "balena-os", "version": "2.1.0", "name": "balenaOS",
            "aliases": ["balena"], "data": { "libc": "glibc" },
            "requires": [
                { "or": [ { "type": "arch.sw", "slug": "aarch64" }, { "not": [ { "type": "sw.l4t" } ] } ] },
                { "type": "sw.kernel", "version": ">=5.10 <7", "data": { "modules": ["wireguard"] } },
                { "type": "sw.release", "version": "wheezy" }
            ],
            "provides": [ { "type": "hw.peripheral", "slug": "gpu", "version": "1", "data": { "vendor": "x" } } ],
            "children": { "hw": { "device-type": { "type": "hw.device-type", "slug": "jetson-tx2",
                "children": [ { "type": "sw.blob", "slug": "entry" } ] } } },
            "assets": { "logo": { "url": "./logo.svg" } }
        }"#;
        let contract = Contract::from_json_str(text).unwrap();
        let json = contract.to_json();
        assert_eq!(json["children"][0]["slug"], "jetson-tx2");
        assert_eq!(json["assets"]["logo"]["url"], "./logo.svg");
        let again = Contract::from_json(json.to_string().as_bytes()).unwrap();
        assert_eq!(again, contract);

        let bare = Contract::new("sw.osb", "osb").to_json();
        assert_eq!(bare, serde_json::json!({ "type": "sw.osb", "slug": "osb" }));
    }
}
