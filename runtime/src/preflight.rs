//! What is checked of a target before anything of it is applied, beyond
//! its own consistency (which reading it checks): the device policy
//! ([`osb_state::policy`], pure), then what only this host can answer:
//! device nodes, mounted volumes' host devices and the paths feature labels
//! bind exist, the engine's socket is a local one, a GPU is there. A `bind`
//! mount's missing source is not refused: the executor creates it, as
//! compose does.
//!
//! The executor checks every target at its entries
//! ([`crate::apply::Applier::check`]): before `apply` stores it, and before
//! each `converge` or `settle` of it (a target stored under another device
//! config is held to this one). `osb daemon --target` also checks its new
//! target before the daemon starts.

use std::path::{Path, PathBuf};

use osb_state::TargetState;
use osb_state::features::{Feature, Features, HostAccess};
use osb_state::mount::VolumeMount;
use osb_state::policy::{self, Policy, PolicyError};

/// The device node the NVIDIA driver creates: without it no engine can
/// serve a request for capability `gpu`.
const NVIDIA_CONTROL: &str = "/dev/nvidiactl";

/// Why a target was refused before anything of it was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// The device policy refuses what a block asks for.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The host cannot give what a block asks for.
    #[error("{path}: {message}")]
    Host {
        /// The field that asks: `apps.main.release.blocks.web.devices[0].source`.
        path: String,
        /// What the host lacks.
        message: String,
    },
}

/// The checks, with what they need of the device.
#[derive(Debug, Clone)]
pub struct Preflight {
    policy: Policy,
    engine_address: String,
}

impl Preflight {
    /// Checks against `policy`, with the engine where `DOCKER_HOST` says
    /// (the local socket if unset), as the engine client connects.
    pub fn new(policy: Policy) -> Preflight {
        Preflight::with_engine(policy, osb_engine::engine_address())
    }

    /// Checks against `policy`, with the engine at `engine_address`
    /// (`unix:///var/run/docker.sock`, `tcp://...`).
    pub fn with_engine(policy: Policy, engine_address: String) -> Preflight {
        Preflight {
            policy,
            engine_address,
        }
    }

    /// The policy checked against.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `target`: the first refusal is the error. What is left out
    /// rather than refused (an optional feature path the host lacks, a
    /// balena feature OSB does not provide) comes back as warnings, each
    /// naming its field, and is logged.
    pub fn check(&self, target: &TargetState) -> Result<Vec<String>, PreflightError> {
        self.policy.check(target)?;
        let mut warnings = Vec::new();
        for (name, app) in &target.apps {
            // Only those mounted: the engine mounts a volume's device when
            // a container uses it, not when the volume is created.
            let mounted: std::collections::BTreeSet<_> = app
                .release
                .blocks
                .values()
                .flat_map(|b| b.volumes.iter().filter_map(VolumeMount::volume))
                .collect();
            for (volume, config) in &app.volumes {
                if !mounted.contains(volume) {
                    continue;
                }
                if let Some(device) = policy::volume_host_path(config) {
                    missing(
                        format!("apps.{name}.volumes.{volume}.driver_opts.device"),
                        device,
                    )?;
                }
            }
            for (block_name, block) in &app.release.blocks {
                let at = format!("apps.{name}.release.blocks.{block_name}");
                for (i, device) in block.devices.iter().enumerate() {
                    missing(format!("{at}.devices[{i}].source"), device.source.as_str())?;
                }
                self.check_features(&at, &block.labels, &mut warnings)?;
            }
        }
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        Ok(warnings)
    }

    fn check_features(
        &self,
        at: &str,
        labels: &std::collections::BTreeMap<String, String>,
        warnings: &mut Vec<String>,
    ) -> Result<(), PreflightError> {
        let features = Features::parse(labels).map_err(|e| PreflightError::Host {
            path: format!("{at}.labels.{}", e.label),
            message: e.message,
        })?;
        for unsupported in &features.unsupported {
            warnings.push(format!("{at}.labels.{unsupported}"));
        }
        let socket = osb_engine::socket_of(&self.engine_address);
        for (feature, label) in features.iter() {
            let path = format!("{at}.labels.{label}");
            let refuse = |message: String| {
                Err(PreflightError::Host {
                    path: path.clone(),
                    message,
                })
            };
            match feature {
                Feature::BalenaSocket => match socket {
                    None => {
                        return refuse(format!(
                            "the engine is reached at '{}', not through a local socket: there is \
                             none to share",
                            self.engine_address
                        ));
                    }
                    Some(socket) if !socket.exists() => {
                        return refuse(format!(
                            "the engine's socket {} does not exist on this device",
                            socket.display()
                        ));
                    }
                    Some(_) => {}
                },
                Feature::Gpu if !Path::new(NVIDIA_CONTROL).exists() => {
                    return refuse(format!(
                        "asks the engine for a GPU (a device request for capability 'gpu', which \
                         the NVIDIA container toolkit serves), and this device has none \
                         ({NVIDIA_CONTROL} does not exist)"
                    ));
                }
                _ => {}
            }
            let access = HostAccess::grant(&Features::of([feature]), None);
            for bind in access.binds {
                if Path::new(&bind.source).exists() {
                    continue;
                }
                if bind.optional {
                    warnings.push(format!(
                        "{path}: {} does not exist on this device; the block runs without it, \
                         as on balena",
                        bind.source
                    ));
                } else {
                    return refuse(format!("{} does not exist on this device", bind.source));
                }
            }
        }
        Ok(())
    }
}

/// Refuses `host_path`, named at `path`, if it does not exist here. A link
/// to nothing does not exist: the engine would refuse it too.
fn missing(path: String, host_path: &str) -> Result<(), PreflightError> {
    if PathBuf::from(host_path).exists() {
        Ok(())
    } else {
        Err(PreflightError::Host {
            path,
            message: format!("{host_path} does not exist on this device"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_state::policy::Profile;

    fn target(class: &str, block: &str) -> TargetState {
        let text = format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "{class}",
                "volumes": {{"gone": {{"driver_opts": {{"type": "none", "o": "bind", "device": "/nonexistent/osb-preflight"}}}}}},
                "release": {{"version": "1.0.0", "blocks": {{"web": {{"image": "web:1", {block}}}}}}}}}}}}}"#
        );
        TargetState::from_json(&text).unwrap_or_else(|e| panic!("{block}: {e}"))
    }

    fn outcome(preflight: &Preflight, class: &str, block: &str) -> String {
        match preflight.check(&target(class, block)) {
            Ok(warnings) => format!("ok {warnings:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_host_is_asked_what_it_has() {
        let p = Preflight::with_engine(Policy::default(), "unix:///proc/self".to_owned());
        let at = "apps.main.release.blocks.web";
        for (class, block, expect) in [
            ("app", r#""command": ["x"]"#, "ok []".to_owned()),
            (
                "app",
                r#""devices": [{"source": "/proc/self"}, {"source": "/dev/ttyUSB9"}]"#,
                format!("{at}.devices[1].source: /dev/ttyUSB9 does not exist on this device"),
            ),
            (
                "os",
                r#""volumes": [{"type": "bind", "source": "/nonexistent/osb", "target": "/x"}]"#,
                "ok []".to_owned(),
            ),
            (
                "os",
                r#""volumes": [{"type": "volume", "source": "gone", "target": "/x"}]"#,
                "apps.main.volumes.gone.driver_opts.device: /nonexistent/osb-preflight does not \
                 exist on this device"
                    .to_owned(),
            ),
            (
                "app",
                r#""labels": {"io.balena.features.procfs": "1", "io.balena.features.supervisor-api": "1"}"#,
                format!(
                    "ok [\"{at}.labels.io.balena.features.supervisor-api: kept as a plain label: \
                     OSB has no balena supervisor API: BALENA_SUPERVISOR_ADDRESS, _HOST, _PORT \
                     and _API_KEY are not set\"]"
                ),
            ),
            (
                "app",
                r#""labels": {"io.osb.features.balena-socket": "1"}"#,
                "ok []".to_owned(),
            ),
        ] {
            assert_eq!(outcome(&p, class, block), expect, "{block}");
        }
        // The policy first: a host bind of an app is refused as such, even
        // where the host lacks the path.
        assert_eq!(
            outcome(
                &p,
                "app",
                r#""volumes": [{"type": "bind", "source": "/nonexistent/osb", "target": "/x"}]"#
            ),
            format!(
                "{at}.volumes[0]: binds host path '/nonexistent/osb': apps of class 'app' reach \
                 the host only through feature labels (policy 'default')"
            )
        );
        let strict = Preflight::with_engine(
            Policy {
                profile: Profile::Strict,
                ..Policy::default()
            },
            "unix:///proc/self".to_owned(),
        );
        assert!(outcome(&strict, "app", r#""privileged": true"#).contains("(policy 'strict')"));
    }

    #[test]
    fn the_engine_socket_must_be_local_and_there() {
        let block = r#""labels": {"io.balena.features.balena-socket": "1"}"#;
        let at = "apps.main.release.blocks.web.labels.io.balena.features.balena-socket";
        let remote = Preflight::with_engine(Policy::default(), "tcp://10.0.0.2:2375".to_owned());
        assert_eq!(
            outcome(&remote, "app", block),
            format!(
                "{at}: the engine is reached at 'tcp://10.0.0.2:2375', not through a local \
                 socket: there is none to share"
            )
        );
        let gone = Preflight::with_engine(
            Policy::default(),
            "unix:///nonexistent/docker.sock".to_owned(),
        );
        assert_eq!(
            outcome(&gone, "app", block),
            format!(
                "{at}: the engine's socket /nonexistent/docker.sock does not exist on this device"
            )
        );
    }

    #[test]
    fn a_gpu_needs_one_on_the_device() {
        let p = Preflight::with_engine(Policy::default(), "unix:///proc/self".to_owned());
        let got = outcome(&p, "app", r#""labels": {"io.balena.features.gpu": "1"}"#);
        if Path::new(NVIDIA_CONTROL).exists() {
            assert_eq!(got, "ok []");
        } else {
            assert!(
                got.starts_with(
                    "apps.main.release.blocks.web.labels.io.balena.features.gpu: asks the engine \
                     for a GPU"
                ) && got.ends_with("(/dev/nvidiactl does not exist)"),
                "{got}"
            );
        }
    }
}
