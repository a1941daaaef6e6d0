//! What the engine holds, as the tests check it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::INSTANCE_LABEL;
use super::cli::{run, try_run};

/// A container, as `docker inspect` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The full ID.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image as the container was created with it (a reference, or an
    /// ID if it was created from one).
    pub image: String,
    /// The ID (`sha256:...`) of the image the container runs.
    pub image_id: String,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`
    /// or `dead`.
    pub state: String,
    /// `starting`, `healthy` or `unhealthy`; `None` without a healthcheck.
    pub health: Option<String>,
    /// The exit code of the last run (0 if it never ran).
    pub exit_code: i64,
    /// Every label, the image's included.
    pub labels: BTreeMap<String, String>,
}

/// The containers, running or not, labelled as belonging to `instance`,
/// by name.
pub fn containers(instance: &str) -> Vec<ContainerInfo> {
    let filter = format!("label={INSTANCE_LABEL}={instance}");
    let listed = run(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
    let ids: Vec<&str> = listed.split_whitespace().collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect", "--type", "container"];
    args.extend(&ids);
    // A container removed between `ps` and `inspect` makes `inspect` fail,
    // yet it still describes the others.
    let output = std::process::Command::new("docker")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run docker inspect");
    let described: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "docker inspect of {ids:?} gave no JSON list ({e}): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    });
    let mut containers: Vec<ContainerInfo> = described.iter().map(container_info).collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    containers
}

fn container_info(inspected: &Value) -> ContainerInfo {
    let text = |pointer: &str| {
        inspected
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let labels = inspected
        .pointer("/Config/Labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    ContainerInfo {
        id: text("/Id"),
        name: text("/Name").trim_start_matches('/').to_owned(),
        image: text("/Config/Image"),
        image_id: text("/Image"),
        state: text("/State/Status"),
        health: inspected
            .pointer("/State/Health/Status")
            .and_then(Value::as_str)
            .map(str::to_owned),
        exit_code: inspected
            .pointer("/State/ExitCode")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        labels,
    }
}

/// The names of the volumes labelled as belonging to `instance`, sorted.
pub fn volumes(instance: &str) -> Vec<String> {
    labelled("volume", instance)
}

/// The names of the networks labelled as belonging to `instance`, sorted.
pub fn networks(instance: &str) -> Vec<String> {
    labelled("network", instance)
}

fn labelled(kind: &str, instance: &str) -> Vec<String> {
    let filter = format!("label={INSTANCE_LABEL}={instance}");
    let mut names: Vec<String> = run(&[kind, "ls", "--filter", &filter, "--format", "{{.Name}}"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// Whether a volume of that name exists.
pub fn volume_exists(name: &str) -> bool {
    try_run(&["volume", "inspect", name]).is_ok()
}

/// Whether the engine holds an image by that reference or ID.
pub fn image_exists(reference: &str) -> bool {
    try_run(&["image", "inspect", reference]).is_ok()
}

/// Removes the image reference (a tag removes only that tag, unless it is
/// the image's last); no such image is not an error.
pub fn remove_image(reference: &str) {
    if let Err(e) = try_run(&["rmi", reference])
        && image_exists(reference)
    {
        panic!("{e}");
    }
}

/// Runs `args` in a running container and returns its output, trimmed;
/// panics if it fails.
pub fn exec(container: &str, args: &[&str]) -> String {
    let mut all = vec!["exec", container];
    all.extend(args);
    run(&all)
}
