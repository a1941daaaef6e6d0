//! Importing a balena target state document into a [`TargetState`].
//!
//! Two formats are read, as the balena supervisor reads them:
//!
//! - **v3**, what balenaCloud and openBalena serve
//!   (`GET /device/v3/<uuid>/state`): `{"<device uuid>": {name, config,
//!   apps: {"<app uuid>": {id, name, class, is_host, releases:
//!   {"<commit>": {id, services: {"<name>": {id, image_id, image,
//!   environment, labels, contract, composition}}, volumes, networks}}}}}}`;
//! - **v2 local mode**, what `balena push` to a local-mode device sends
//!   (and the older v2 endpoint served): `{"local": {name, config, apps:
//!   {"<appId>": {name, commit, releaseId, releaseVersion, services:
//!   {"<serviceId>": {serviceName, image, environment, labels, ...compose
//!   keys}}, volumes, networks}}}}`.
//!
//! The host app (`is_host`) becomes an app of class `os`, the supervisor's
//! own app one of class `system`, the fleet app one of class `app`. Each
//! service's composition goes through the compose importer
//! ([`compose::import_document`]), and the service's own `image`,
//! `environment` and `labels` win over the composition's. Host OS images
//! (hostapps, overlays), a second fleet, a service to `build` and a service
//! meant to stay stopped are refused; what has no place in the target
//! (device configuration, balena's ids, unknown keys) comes back as a
//! warning with its JSON path, never dropped silently. The mapping is
//! documented in `docs/balena.md`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::compose::{self, ComposeError, ComposeImport, ComposeWarning};
use super::name::{AppName, BlockName, NAME_MAX};
use super::target::{AppClass, FormatVersion, ReleaseStatus, Requirement, TargetState};
use super::validate::ReleaseError;

#[cfg(test)]
mod tests;

/// A balena target state read into a target, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct BalenaImport {
    /// Which of the two formats it was.
    pub format: BalenaFormat,
    /// The target it maps to, validated.
    pub target: TargetState,
    /// What was not carried over, each with its JSON path and why.
    pub warnings: Vec<ComposeWarning>,
}

/// The formats of a balena target state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalenaFormat {
    /// `{"<device uuid>": {apps: {"<app uuid>": {releases: ...}}}}`.
    V3,
    /// `{"local": {apps: {"<appId>": {commit, services: ...}}}}`.
    V2,
}

impl fmt::Display for BalenaFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BalenaFormat::V3 => "balena v3 target state",
            BalenaFormat::V2 => "balena v2 local-mode target state",
        })
    }
}

/// Why a balena target state was refused. Nothing of it is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalenaError {
    /// Not JSON, or JSON with a key repeated in one object.
    #[error("not valid JSON: {}", at(path, message))]
    Json {
        /// Where, or `.` for the document.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A value of the wrong shape, missing, or out of range.
    #[error("{}", at(path, message))]
    Invalid {
        /// Where: `<device>.apps.<app>.releases`.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A service to be built rather than pulled.
    #[error(
        "{path}: 'build' is not supported: build and push the image, then name it with 'image'"
    )]
    Build {
        /// `...services.<name>.composition.build`.
        path: String,
    },
    /// Something balena runs that OSB does not yet: host OS images,
    /// stopped services, apps of the `block` class.
    #[error("{path}: {what} is not yet supported")]
    NotSupported {
        /// Where.
        path: String,
        /// What it is.
        what: String,
    },
    /// A second fleet app: a device runs one fleet.
    #[error("{path}: a second fleet app ('{name}'); the first is {first}: a device runs one fleet")]
    SecondFleet {
        /// The second app.
        path: String,
        /// Its balena name.
        name: String,
        /// The first one's path.
        first: String,
    },
    /// Two apps, or two services of a release, whose names map to one OSB
    /// name.
    #[error("{path}: '{original}' becomes '{name}', which {other} already has")]
    NameClash {
        /// Where the second one is.
        path: String,
        /// Its balena name.
        original: String,
        /// The OSB name both map to.
        name: String,
        /// The first one's path.
        other: String,
    },
    /// A composition the compose importer refused, with the release it is
    /// in; its own path is within the compose document the release's
    /// services make (`services.<name>...`).
    #[error("{path}: {source}")]
    Composition {
        /// The release.
        path: String,
        /// What the compose importer said.
        #[source]
        source: ComposeError,
    },
    /// The target it maps to is inconsistent (a host port published by
    /// two apps, ...); its path is the OSB target's.
    #[error("the target it maps to is refused: {0}")]
    Target(#[from] ReleaseError),
}

fn at(path: &str, message: &str) -> String {
    if matches!(path, "" | "." | "?") {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// Whether `value` is a balena target state rather than OSB's own: no
/// `version` at the top, and either `local` (v2) or only device entries,
/// each an object with `apps` (v3).
pub fn is_balena_document(value: &Value) -> bool {
    let Value::Object(top) = value else {
        return false;
    };
    if top.contains_key("version") {
        return false;
    }
    top.contains_key("local")
        || (!top.is_empty()
            && top
                .values()
                .all(|device| device.as_object().is_some_and(|d| d.contains_key("apps"))))
}

/// Reads a balena target state (v3, or v2 local mode) from JSON.
pub fn import(text: &str) -> Result<BalenaImport, BalenaError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let UniqueValue(document) =
        serde_path_to_error::deserialize(&mut de).map_err(|e| BalenaError::Json {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    de.end().map_err(|e| BalenaError::Json {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    import_value(&document)
}

/// Reads a balena target state already parsed.
pub fn import_value(document: &Value) -> Result<BalenaImport, BalenaError> {
    if !is_balena_document(document) {
        return Err(invalid(
            ".",
            "not a balena target state: expected {\"<device uuid>\": {\"apps\": ...}} (v3) \
             or {\"local\": {\"apps\": ...}} (v2)",
        ));
    }
    let mut report = Report::default();
    let (format, apps) = match document {
        Value::Object(top) if top.contains_key("local") => {
            (BalenaFormat::V2, read_v2(top, &mut report)?)
        }
        Value::Object(top) => (BalenaFormat::V3, read_v3(top, &mut report)?),
        _ => return Err(invalid(".", "expected an object")),
    };
    let target = build_target(apps, &mut report)?;
    report.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(BalenaImport {
        format,
        target,
        warnings: report.warnings,
    })
}

/// What an app is on a balena device, which decides its OSB class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `is_host`: the host OS.
    Host,
    /// The balena supervisor's own app.
    Supervisor,
    /// The user's fleet.
    Fleet,
}

impl Role {
    fn class(self) -> AppClass {
        match self {
            Role::Host => AppClass::Os,
            Role::Supervisor => AppClass::System,
            Role::Fleet => AppClass::App,
        }
    }
}

/// An app as read from either format.
struct AppIn {
    path: String,
    name: String,
    name_path: String,
    role: Role,
    release: Option<ReleaseIn>,
}

/// The one release of an app.
struct ReleaseIn {
    /// Where the release is (v3: `...releases.<commit>`; v2: the app).
    path: String,
    commit: String,
    /// A semver given with the release, and where.
    version: Option<(String, String)>,
    services: Vec<ServiceIn>,
    volumes: Option<Value>,
    networks: Option<Value>,
}

/// One service: the balena metadata, and its composition.
struct ServiceIn {
    /// Where the service entry is.
    path: String,
    name: String,
    image: String,
    environment: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    contract: Option<Map<String, Value>>,
    /// The compose keys (v3: `composition`; v2: the entry's other keys).
    composition: Map<String, Value>,
    /// Where the composition's keys are (v3: `...composition`; v2: the
    /// service entry itself).
    composition_path: String,
}

/// Collects warnings while the document is read.
#[derive(Default)]
struct Report {
    warnings: Vec<ComposeWarning>,
}

/// The device's own fields beside `apps` (v3 and v2 alike): reported,
/// since the device config is the device's, not the target's.
fn device_fields(
    device: &Map<String, Value>,
    path: &str,
    report: &mut Report,
) -> Result<(), BalenaError> {
    for (key, value) in present(device) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "apps" => {}
            "name" => {
                string(value, &here)?;
                report.warn(&here, "the device's name: not carried over");
            }
            "config" => report.config(value, &here)?,
            _ => report.ignored(&here),
        }
    }
    Ok(())
}

impl Report {
    fn warn(&mut self, path: &str, message: impl Into<String>) {
        self.warnings.push(ComposeWarning {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn ignored(&mut self, path: &str) {
        self.warn(path, "not supported, ignored");
    }

    fn id(&mut self, value: &Value, path: &str) -> Result<(), BalenaError> {
        scalar(value, path)?;
        self.warn(path, "balena's database id: not carried over");
        Ok(())
    }

    /// The device's configuration variables: the OS's settings (boot
    /// config, supervisor timings), which no block holds.
    fn config(&mut self, value: &Value, path: &str) -> Result<(), BalenaError> {
        for (key, value) in present(object(value, path)?) {
            let here = format!("{path}.{key}");
            scalar(value, &here)?;
            self.warn(&here, "device configuration: not carried over");
        }
        Ok(())
    }
}

// v3 ---------------------------------------------------------------------

/// The app uuids balenaCloud gives the supervisor's own apps (one per
/// architecture): the supervisor recognises itself by them.
const SUPERVISOR_APP_UUIDS: &[&str] = &[
    "52e35121417640b1b28a680504e4039b", // amd64
    "900de4f3cbac4b9bbd232885a35e407b", // aarch64
    "2e66a95795c149959c69472a8c2f92b8", // armv7hf
    "531b357e155c480cbec0fdd33041a1f5", // i386
    "6822565f766e413e96d9bebe2227cdcc", // rpi
];

/// The architectures balena builds a supervisor app for, named
/// `<arch>-supervisor` (`balena_os/aarch64-supervisor`).
const SUPERVISOR_ARCHES: &[&str] = &["amd64", "aarch64", "armv7hf", "i386", "rpi", "armel"];

fn is_supervisor(uuid: &str, name: &str) -> bool {
    SUPERVISOR_APP_UUIDS.contains(&uuid)
        || name == "balena-supervisor"
        || name
            .strip_suffix("-supervisor")
            .is_some_and(|arch| SUPERVISOR_ARCHES.contains(&arch))
}

fn read_v3(top: &Map<String, Value>, report: &mut Report) -> Result<Vec<AppIn>, BalenaError> {
    let mut devices = top.iter();
    let (Some((uuid, device)), None) = (devices.next(), devices.next()) else {
        return Err(invalid(
            ".",
            format!(
                "{} devices: a target state is one device's (its uuid, then its apps)",
                top.len()
            ),
        ));
    };
    let device = object(device, uuid)?;
    device_fields(device, uuid, report)?;
    let apps_path = format!("{uuid}.apps");
    let Some(apps) = field(device, "apps") else {
        return Err(invalid(uuid, "no 'apps'"));
    };
    let mut out = Vec::new();
    for (app_uuid, app) in object(apps, &apps_path)? {
        out.push(read_v3_app(
            report,
            &format!("{apps_path}.{app_uuid}"),
            app_uuid,
            app,
        )?);
    }
    Ok(out)
}

fn read_v3_app(
    report: &mut Report,
    path: &str,
    uuid: &str,
    app: &Value,
) -> Result<AppIn, BalenaError> {
    let map = object(app, path)?;
    let mut is_host = false;
    let mut class = "fleet".to_owned();
    for (key, value) in present(map) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "name" | "releases" => {}
            "id" => report.id(value, &here)?,
            "class" => {
                class = string(value, &here)?.to_owned();
                if !matches!(class.as_str(), "fleet" | "app" | "block") {
                    return Err(invalid(
                        &here,
                        format!("unknown app class '{class}' (fleet, app or block)"),
                    ));
                }
            }
            "is_host" => is_host = boolean(value, &here)?,
            "parent_app" => {
                string(value, &here)?;
                report.warn(&here, "not carried over");
            }
            _ => report.ignored(&here),
        }
    }
    let name_path = format!("{path}.name");
    let name = match field(map, "name") {
        Some(name) => string(name, &name_path)?.to_owned(),
        None => return Err(invalid(path, "no 'name'")),
    };
    let role = if is_host {
        Role::Host
    } else if is_supervisor(uuid, &name) {
        Role::Supervisor
    } else if class == "fleet" {
        Role::Fleet
    } else {
        return Err(BalenaError::NotSupported {
            path: format!("{path}.class"),
            what: format!(
                "an app of class '{class}' that is neither the host OS nor the supervisor"
            ),
        });
    };

    let releases_path = format!("{path}.releases");
    let releases = match field(map, "releases") {
        Some(releases) => object(releases, &releases_path)?,
        None => &Map::new(),
    };
    let mut entries = releases.iter();
    let release = match (entries.next(), entries.next()) {
        (None, _) => {
            report.warn(
                &releases_path,
                "no release: the app has nothing to run, and is left out",
            );
            None
        }
        (Some((commit, release)), None) => Some(read_v3_release(
            report,
            &format!("{releases_path}.{commit}"),
            commit,
            release,
        )?),
        (Some(_), Some(_)) => {
            return Err(invalid(
                &releases_path,
                format!(
                    "{} releases: an app runs one release at a time",
                    releases.len()
                ),
            ));
        }
    };
    Ok(AppIn {
        path: path.to_owned(),
        name,
        name_path,
        role,
        release,
    })
}

fn read_v3_release(
    report: &mut Report,
    path: &str,
    commit: &str,
    release: &Value,
) -> Result<ReleaseIn, BalenaError> {
    let map = object(release, path)?;
    let mut out = ReleaseIn {
        path: path.to_owned(),
        commit: commit.to_owned(),
        version: None,
        services: Vec::new(),
        volumes: None,
        networks: None,
    };
    for (key, value) in present(map) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "id" => report.id(value, &here)?,
            "services" => {
                for (name, service) in object(value, &here)? {
                    out.services.push(read_v3_service(
                        report,
                        &format!("{here}.{name}"),
                        name,
                        service,
                    )?);
                }
            }
            "volumes" => out.volumes = Some(Value::Object(object(value, &here)?.clone())),
            "networks" => out.networks = Some(Value::Object(object(value, &here)?.clone())),
            // Not in what the balena API serves today; read should a
            // release carry its version.
            "semver" | "release_version" => {
                let version = string(value, &here)?.to_owned();
                if out.version.is_none() || key == "semver" {
                    out.version = Some((here, version));
                }
            }
            _ => report.ignored(&here),
        }
    }
    Ok(out)
}

fn read_v3_service(
    report: &mut Report,
    path: &str,
    name: &str,
    service: &Value,
) -> Result<ServiceIn, BalenaError> {
    let map = object(service, path)?;
    let image_path = format!("{path}.image");
    let image = match field(map, "image") {
        Some(image) => string(image, &image_path)?.to_owned(),
        None => return Err(invalid(path, "no 'image'")),
    };
    let mut out = ServiceIn {
        path: path.to_owned(),
        name: name.to_owned(),
        image,
        environment: BTreeMap::new(),
        labels: BTreeMap::new(),
        contract: None,
        composition: Map::new(),
        composition_path: format!("{path}.composition"),
    };
    for (key, value) in present(map) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "image" => {}
            "id" | "image_id" => report.id(value, &here)?,
            "environment" => out.environment = string_map(value, &here)?,
            "labels" => out.labels = string_map(value, &here)?,
            "running" => running(value, &here)?,
            "contract" => out.contract = Some(object(value, &here)?.clone()),
            "composition" => out.composition = object(value, &here)?.clone(),
            _ => report.ignored(&here),
        }
    }
    Ok(out)
}

// v2 ---------------------------------------------------------------------

fn read_v2(top: &Map<String, Value>, report: &mut Report) -> Result<Vec<AppIn>, BalenaError> {
    for (key, value) in present(top) {
        match key.as_str() {
            "local" => {}
            // Dependent devices are gone from balena; the API still sends
            // `{"apps": {}, "devices": {}}`, which holds nothing.
            "dependent" if holds_nothing(value) => {}
            _ => report.ignored(key),
        }
    }
    let local = field(top, "local")
        .map(|local| object(local, "local"))
        .transpose()?
        .ok_or_else(|| invalid(".", "no 'local'"))?;
    device_fields(local, "local", report)?;
    let Some(apps) = field(local, "apps") else {
        return Err(invalid("local", "no 'apps'"));
    };
    let mut out = Vec::new();
    for (id, app) in object(apps, "local.apps")? {
        out.push(read_v2_app(report, &format!("local.apps.{id}"), app)?);
    }
    Ok(out)
}

fn holds_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.values().all(holds_nothing),
        _ => false,
    }
}

fn read_v2_app(report: &mut Report, path: &str, app: &Value) -> Result<AppIn, BalenaError> {
    let map = object(app, path)?;
    let mut commit = None;
    let mut version = None;
    let mut volumes = None;
    let mut networks = None;
    for (key, value) in present(map) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "name" | "services" => {}
            "appId" | "releaseId" => report.id(value, &here)?,
            "commit" => commit = Some(string(value, &here)?.to_owned()),
            "releaseVersion" => version = Some((here.clone(), string(value, &here)?.to_owned())),
            "volumes" => volumes = Some(Value::Object(object(value, &here)?.clone())),
            "networks" => networks = Some(Value::Object(object(value, &here)?.clone())),
            _ => report.ignored(&here),
        }
    }
    let name_path = format!("{path}.name");
    let name = match field(map, "name") {
        Some(name) => string(name, &name_path)?.to_owned(),
        None => return Err(invalid(path, "no 'name'")),
    };
    let services_path = format!("{path}.services");
    let services = match field(map, "services") {
        Some(services) => object(services, &services_path)?,
        None => &Map::new(),
    };
    // As the supervisor reads v2: without a commit there is no release.
    let release = match commit {
        None => {
            report.warn(
                path,
                "no 'commit': the app has no release to run, and is left out",
            );
            None
        }
        Some(commit) => {
            let mut release = ReleaseIn {
                path: path.to_owned(),
                commit,
                version,
                services: Vec::new(),
                volumes,
                networks,
            };
            for (id, service) in services {
                release.services.push(read_v2_service(
                    report,
                    &format!("{services_path}.{id}"),
                    service,
                )?);
            }
            Some(release)
        }
    };
    Ok(AppIn {
        path: path.to_owned(),
        name,
        name_path,
        // v2 carries the user's apps only.
        role: Role::Fleet,
        release,
    })
}

fn read_v2_service(
    report: &mut Report,
    path: &str,
    service: &Value,
) -> Result<ServiceIn, BalenaError> {
    let map = object(service, path)?;
    let required = |key: &str| -> Result<String, BalenaError> {
        let here = format!("{path}.{key}");
        match field(map, key) {
            Some(value) => Ok(string(value, &here)?.to_owned()),
            None => Err(invalid(path, format!("no '{key}'"))),
        }
    };
    let mut out = ServiceIn {
        path: path.to_owned(),
        name: required("serviceName")?,
        image: required("image")?,
        environment: BTreeMap::new(),
        labels: BTreeMap::new(),
        contract: None,
        composition: Map::new(),
        composition_path: path.to_owned(),
    };
    for (key, value) in present(map) {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "serviceName" | "image" => {}
            "imageId" | "serviceId" | "appId" | "releaseId" | "containerId" => {
                report.id(value, &here)?;
            }
            "commit" | "buildId" => {
                scalar(value, &here)?;
                report.warn(
                    &here,
                    "not carried over: the app's 'commit' is the release's",
                );
            }
            "environment" => out.environment = string_map(value, &here)?,
            "labels" => out.labels = string_map(value, &here)?,
            "running" => running(value, &here)?,
            "contract" => out.contract = Some(object(value, &here)?.clone()),
            // The rest is the compose service, spread into the entry.
            _ => {
                out.composition.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(out)
}

/// `running: false` asks for a container created and kept stopped; OSB runs
/// every block of its target, so carrying it over would run what balena
/// keeps stopped.
fn running(value: &Value, path: &str) -> Result<(), BalenaError> {
    if boolean(value, path)? {
        Ok(())
    } else {
        Err(BalenaError::NotSupported {
            path: path.to_owned(),
            what: "a service kept stopped ('running: false')".to_owned(),
        })
    }
}

// Building the target ----------------------------------------------------

fn build_target(apps: Vec<AppIn>, report: &mut Report) -> Result<TargetState, BalenaError> {
    let mut names: BTreeMap<AppName, String> = BTreeMap::new();
    let mut first_fleet: Option<String> = None;
    let mut target = TargetState {
        version: FormatVersion,
        apps: BTreeMap::new(),
    };
    for app in apps {
        if app.role == Role::Fleet {
            if let Some(first) = &first_fleet {
                return Err(BalenaError::SecondFleet {
                    path: app.path,
                    name: app.name,
                    first: first.clone(),
                });
            }
            first_fleet = Some(app.path.clone());
        }
        let name = osb_name(&app.name, &app.name_path, report, AppName::new)?;
        if let Some(other) = names.get(&name) {
            return Err(BalenaError::NameClash {
                path: app.name_path,
                original: app.name,
                name: name.to_string(),
                other: other.clone(),
            });
        }
        names.insert(name.clone(), app.path.clone());
        let Some(release) = app.release else {
            continue;
        };
        let version = release_version(&release, report);
        let import = import_release(release, report)?;
        target.apps.insert(
            name,
            import.into_app(app.role.class(), version, ReleaseStatus::Final),
        );
    }
    target.validate()?;
    Ok(target)
}

/// The release's semver when it has one, else `0.0.0+<first 12 of the
/// commit>`: a new commit is a new version, and build metadata says which
/// without claiming an order.
fn release_version(release: &ReleaseIn, report: &mut Report) -> semver::Version {
    if let Some((path, text)) = &release.version {
        match semver::Version::parse(text) {
            Ok(version) => return version,
            Err(e) => report.warn(
                path,
                format!("'{text}' is not a semver ({e}): the version is made from the commit"),
            ),
        }
    }
    let mut version = semver::Version::new(0, 0, 0);
    let metadata: String = release
        .commit
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(12)
        .collect();
    if let Ok(build) = semver::BuildMetadata::new(&metadata) {
        version.build = build;
    }
    version
}

/// Where a key of the compose document built for a release is in the
/// balena document.
struct Places {
    release: String,
    volumes: String,
    networks: String,
    /// By block name.
    services: BTreeMap<String, ServicePlace>,
}

struct ServicePlace {
    service: String,
    composition: String,
    spelled: Spellings,
}

impl Places {
    /// `services.<block>.<key>...` → `<composition>.<key as written>...`,
    /// `volumes...` → `<release>.volumes...`, and so on.
    fn of(&self, compose_path: &str) -> String {
        let (head, rest) = split_segment(compose_path);
        match head {
            "services" => {
                let (block, rest) = split_segment(rest.trim_start_matches('.'));
                let Some(place) = self.services.get(block) else {
                    return format!("{}.{compose_path}", self.release);
                };
                if rest.is_empty() {
                    return place.composition.clone();
                }
                let Some(rest) = rest.strip_prefix('.') else {
                    return format!("{}{rest}", place.composition);
                };
                let (key, tail) = split_segment(rest);
                if key == "image" {
                    return format!("{}.image{tail}", place.service);
                }
                let key = place.spelled.get(key).map_or(key, String::as_str);
                format!("{}.{key}{tail}", place.composition)
            }
            "volumes" => format!("{}{rest}", self.volumes),
            "networks" => format!("{}{rest}", self.networks),
            _ => format!("{}.{compose_path}", self.release),
        }
    }

    fn error(&self, error: ComposeError) -> BalenaError {
        match error {
            ComposeError::Build { path } => BalenaError::Build {
                path: self.of(&path),
            },
            ComposeError::Invalid { path, message } => BalenaError::Invalid {
                path: self.of(&path),
                message,
            },
            source => BalenaError::Composition {
                path: self.release.clone(),
                source,
            },
        }
    }
}

/// The first path segment (up to `.` or `[`), and the rest from there.
fn split_segment(path: &str) -> (&str, &str) {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    path.split_at(end)
}

fn import_release(release: ReleaseIn, report: &mut Report) -> Result<ComposeImport, BalenaError> {
    // v3: on the release; v2: on the app, which is the release's path.
    let volumes = format!("{}.volumes", release.path);
    let networks = format!("{}.networks", release.path);
    let mut places = Places {
        release: release.path.clone(),
        volumes,
        networks,
        services: BTreeMap::new(),
    };

    // Block names first: compositions refer to each other by name.
    let mut blocks: BTreeMap<BlockName, String> = BTreeMap::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut block_names = Vec::new();
    for service in &release.services {
        let name = osb_name(&service.name, &service.path, report, BlockName::new)?;
        if let Some(other) = blocks.get(&name) {
            return Err(BalenaError::NameClash {
                path: service.path.clone(),
                original: service.name.clone(),
                name: name.to_string(),
                other: other.clone(),
            });
        }
        blocks.insert(name.clone(), service.path.clone());
        if name.as_str() != service.name {
            renamed.insert(service.name.clone(), name.to_string());
        }
        block_names.push(name);
    }

    let mut services = Map::new();
    for (service, block) in release.services.iter().zip(&block_names) {
        // Before the composition is read: a hostapp's would fail for
        // reasons that say less.
        if let Some((key, what)) = os_image(&service.labels) {
            return Err(BalenaError::NotSupported {
                path: format!("{}.labels.{key}", service.path),
                what,
            });
        }
        let (mut composition, spelled) =
            compose_spelling(&service.composition, &service.composition_path)?;
        if composition.contains_key("build") {
            let key = spelled.get("build").map_or("build", String::as_str);
            return Err(BalenaError::Build {
                path: format!("{}.{key}", service.composition_path),
            });
        }
        if let Some(own) = composition.get("image")
            && own.as_str() != Some(service.image.as_str())
        {
            report.warn(
                &format!("{}.image", service.composition_path),
                format!("overridden by the service's image '{}'", service.image),
            );
        }
        composition.insert("image".to_owned(), Value::String(service.image.clone()));
        rename_references(&mut composition, &renamed);
        services.insert(block.to_string(), Value::Object(composition));
        places.services.insert(
            block.to_string(),
            ServicePlace {
                service: service.path.clone(),
                composition: service.composition_path.clone(),
                spelled,
            },
        );
    }
    let mut document = Map::new();
    document.insert("services".to_owned(), Value::Object(services));
    if let Some(volumes) = release.volumes {
        document.insert("volumes".to_owned(), volumes);
    }
    if let Some(networks) = release.networks {
        document.insert("networks".to_owned(), networks);
    }

    let mut import =
        compose::import_document(&Value::Object(document)).map_err(|e| places.error(e))?;
    for warning in std::mem::take(&mut import.warnings) {
        report.warn(&places.of(&warning.path), warning.message);
    }

    for (service, block_name) in release.services.into_iter().zip(&block_names) {
        let Some(block) = import.blocks.get_mut(block_name) else {
            continue;
        };
        let service_labels = format!("{}.labels", service.path);
        let composition_labels = format!("{}.labels", service.composition_path);
        // The service's labels win over the composition's, so each label is
        // reported where its value came from.
        let place = |key: &str| {
            if service.labels.contains_key(key) {
                format!("{service_labels}.{key}")
            } else {
                format!("{composition_labels}.{key}")
            }
        };
        let mut labels = block.labels.clone();
        labels.extend(service.labels.clone());
        if let Some((key, what)) = os_image(&labels) {
            return Err(BalenaError::NotSupported {
                path: place(key),
                what,
            });
        }
        // Read again over the merge, as the update labels are: the
        // service's own label wins over its composition's.
        if let Some(optional) =
            crate::features::optional(&labels).map_err(|e| invalid(&place(&e.label), e.message))?
        {
            block.optional = optional;
        }
        // The composition's update labels were read by the importer; the
        // service's own win, so they are read again over the merge.
        if service
            .labels
            .keys()
            .any(|k| k.starts_with("io.balena.update."))
        {
            let (asked, warnings) =
                compose::update_labels(&labels, &service.path).map_err(|e| {
                    BalenaError::Invalid {
                        path: String::new(),
                        message: e.to_string(),
                    }
                })?;
            for warning in warnings {
                report.warn(&warning.path, warning.message);
            }
            if let Some(strategy) = asked.strategy {
                block.update_strategy = strategy;
            }
            if let Some(reboot) = asked.requires_reboot {
                block.requires_reboot = reboot;
            }
        }
        block.labels = labels;
        block.environment.extend(service.environment);
        if let Some(contract) = &service.contract {
            let path = format!("{}.contract", service.path);
            block
                .requires
                .extend(contract_requires(contract, &path, report)?);
        }
    }
    Ok(import)
}

/// The label that makes a block an image of the host OS (a hostapp, an
/// overlay, a fileset), and what it is: a block runs a container, and those
/// are blocks of kinds still to come.
fn os_image(labels: &BTreeMap<String, String>) -> Option<(&'static str, String)> {
    const CLASS: &str = "io.balena.image.class";
    const STORE: &str = "io.balena.image.store";
    match (labels.get(CLASS).map(String::as_str), labels.get(STORE)) {
        (Some("service"), _) | (None, None) => None,
        (Some("hostapp"), _) => Some((CLASS, "a hostapp (the host OS image)".to_owned())),
        (Some("overlay"), _) => Some((CLASS, "an overlay (a host OS extension)".to_owned())),
        (Some("fileset"), _) => Some((CLASS, "a fileset (files for the host OS)".to_owned())),
        (Some(other), _) => Some((CLASS, format!("an image of class '{other}'"))),
        // The balena API marks the host app's services so, for supervisors
        // that predate `is_host`.
        (None, Some(store)) => Some((STORE, format!("an image for the host OS's '{store}' store"))),
    }
}

/// A contract's `requires` entries become the block's requirements; the
/// rest of the contract (its type, slug, name, version) is reported.
fn contract_requires(
    contract: &Map<String, Value>,
    path: &str,
    report: &mut Report,
) -> Result<Vec<Requirement>, BalenaError> {
    let mut out = Vec::new();
    for (key, value) in contract {
        let here = format!("{path}.{key}");
        if key == "requires" {
            let Value::Array(items) = value else {
                return Err(invalid(
                    &here,
                    format!("expected a list, found {}", kind(value)),
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let item = object(item, &format!("{here}[{i}]"))?;
                out.push(Requirement(item.clone()));
            }
        } else {
            report.warn(
                &here,
                "not carried over: only the contract's 'requires' is (as the block's requirements)",
            );
        }
    }
    Ok(out)
}

/// Composition keys as written, by the compose spelling they were read as
/// (`networkMode` by `network_mode`).
type Spellings = BTreeMap<String, String>;

/// The supervisor reads compose keys in either spelling (`network_mode`,
/// `networkMode`); the compose importer reads compose's. Returns the
/// composition in compose's spelling, and the keys as written by the
/// spelling they were read as.
fn compose_spelling(
    composition: &Map<String, Value>,
    path: &str,
) -> Result<(Map<String, Value>, Spellings), BalenaError> {
    let mut out = Map::new();
    let mut spelled = BTreeMap::new();
    for (key, value) in composition {
        let snake = snake_case(key);
        if out.contains_key(snake.as_ref()) {
            let earlier = spelled
                .get(snake.as_ref())
                .unwrap_or(&snake.to_string())
                .clone();
            return Err(invalid(
                &format!("{path}.{key}"),
                format!("'{snake}' is given twice, as '{earlier}' and as '{key}'"),
            ));
        }
        if let Cow::Owned(snake) = &snake {
            spelled.insert(snake.clone(), key.clone());
        }
        out.insert(snake.into_owned(), value.clone());
    }
    Ok((out, spelled))
}

/// `networkMode` → `network_mode`; keys that are not camelCase are kept.
fn snake_case(key: &str) -> Cow<'_, str> {
    let camel = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_alphanumeric())
        && key.chars().any(|c| c.is_ascii_uppercase());
    if !camel {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where a composition names another service (`depends_on`, and
/// `service:<name>` namespaces), the name it has in the target.
fn rename_references(composition: &mut Map<String, Value>, renamed: &BTreeMap<String, String>) {
    if renamed.is_empty() {
        return;
    }
    let rename = |name: &str| renamed.get(name).cloned();
    match composition.get_mut("depends_on") {
        Some(Value::Array(items)) => {
            for item in items {
                if let Some(new) = item.as_str().and_then(rename) {
                    *item = Value::String(new);
                }
            }
        }
        Some(Value::Object(map)) => {
            let old = std::mem::take(map);
            for (name, value) in old {
                map.insert(rename(&name).unwrap_or(name), value);
            }
        }
        _ => {}
    }
    for key in ["network_mode", "pid", "ipc"] {
        if let Some(value) = composition.get_mut(key)
            && let Some(new) = value
                .as_str()
                .and_then(|v| v.strip_prefix("service:"))
                .and_then(rename)
        {
            *value = Value::String(format!("service:{new}"));
        }
    }
}

/// A balena name made into an OSB name: lowercased, what a name may not
/// hold made `-`, no leading `-` or `_`, at most 63 characters. A change
/// is reported.
fn osb_name<T: fmt::Display>(
    original: &str,
    path: &str,
    report: &mut Report,
    make: impl Fn(&str) -> Result<T, super::name::NameError>,
) -> Result<T, BalenaError> {
    let mapped: String = original
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed: String = mapped
        .trim_start_matches(['-', '_'])
        .chars()
        .take(NAME_MAX)
        .collect();
    let name = make(&trimmed).map_err(|_| {
        invalid(
            path,
            format!("no OSB name can be made from '{original}' (it needs a letter or a digit)"),
        )
    })?;
    if trimmed != original {
        report.warn(
            path,
            format!(
                "'{original}' is named '{name}' in the target (names hold only a-z, 0-9, '-' and '_')"
            ),
        );
    }
    Ok(name)
}

// Shapes -----------------------------------------------------------------

/// An object's keys but those set to `null`: balena sends `null` for
/// "not set", which carries nothing to report.
fn present(map: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    map.iter().filter(|(_, value)| !value.is_null())
}

/// A key of an object, `null` being no value.
fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|value| !value.is_null())
}

fn invalid(path: &str, message: impl fmt::Display) -> BalenaError {
    BalenaError::Invalid {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, BalenaError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(invalid(
            path,
            format!("expected an object, found {}", kind(other)),
        )),
    }
}

fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str, BalenaError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(invalid(
            path,
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn boolean(value: &Value, path: &str) -> Result<bool, BalenaError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(invalid(
            path,
            format!("expected true or false, found {}", kind(other)),
        )),
    }
}

/// A string or a number (balena's ids are numbers, sometimes strings).
fn scalar(value: &Value, path: &str) -> Result<(), BalenaError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        other => Err(invalid(
            path,
            format!("expected a string or a number, found {}", kind(other)),
        )),
    }
}

/// `environment` and `labels`: string to string; a number or a boolean is
/// taken as its text, as compose takes it.
fn string_map(value: &Value, path: &str) -> Result<BTreeMap<String, String>, BalenaError> {
    object(value, path)?
        .iter()
        .map(|(key, value)| {
            let here = format!("{path}.{key}");
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(invalid(
                        &here,
                        format!("expected a string, found {}", kind(other)),
                    ));
                }
            };
            Ok((key.clone(), text))
        })
        .collect()
}

/// A JSON value read with every object's keys checked for repeats: JSON
/// allows them, and a plain reader keeps the last one without a word.
struct UniqueValue(Value);

impl<'de> Deserialize<'de> for UniqueValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = UniqueValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<UniqueValue, D::Error> {
        UniqueValue::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<UniqueValue, E> {
        Ok(UniqueValue(Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<UniqueValue, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueValue(item)) = access.next_element()? {
            items.push(item);
        }
        Ok(UniqueValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueValue, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key '{key}'")));
            }
            let UniqueValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(UniqueValue(Value::Object(map)))
    }
}
