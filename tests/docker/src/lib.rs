//! Fixtures for tests that talk to a real Docker engine through the `docker`
//! command line: the engine check, local images built from the host's static
//! busybox, a throwaway image registry (open, or wanting a login: Basic, or
//! tokens from a [`TokenIssuer`]), and a [`Scope`] that removes what a
//! test left on the engine.
//!
//! The CLI rather than an engine client: these fixtures check the runtime's
//! engine client, so they must not share its code or its mistakes.
//!
//! ```no_run
//! let Some(docker) = osb_test_docker::engine() else { return };
//! let scope = docker.scope("pull-and-run");
//! let image = docker.busybox_image("1");
//! docker.run(&["run", "-d", "--label", &scope.label(), &image]);
//! assert_eq!(scope.containers().len(), 1);
//! ```
//!
//! Without an engine, [`engine`] prints a notice and the test returns early,
//! unless `CI` is set: there, a missing engine is a failure.

mod cli;
mod image;
mod query;
mod registry;
mod scope;
mod token;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::time::Duration;

pub use cli::{run, try_run};
pub use image::{big_image, busybox_image};
pub use query::{
    ContainerInfo, containers, exec, image_exists, networks, remove_image, volume_exists, volumes,
};
pub use registry::{Registry, RegistryAuth};
pub use scope::{Scope, cleanup};
pub use token::{TokenIssuer, TokenPolicy};

/// The label that ties engine objects to one runtime instance, and so to
/// one test: [`cleanup`] removes everything carrying it.
pub const INSTANCE_LABEL: &str = "io.osb.runtime";

/// A Docker engine that answered. Its methods are the module's functions,
/// so a test that got one has them at hand.
#[derive(Debug, Clone)]
pub struct Engine {
    server_version: String,
}

/// How long the engine may take to answer `docker version`: a hung engine
/// must fail the tests, not hang them.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// The engine, if one answers. Without one: `None` after a notice on
/// stderr, so the test can return early; but a panic when `CI` is set, so
/// that CI cannot pass by skipping.
pub fn engine() -> Option<Engine> {
    static PROBE: OnceLock<Result<Engine, String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        cli::run_with_timeout(
            &["version", "--format", "{{.Server.Version}}"],
            PROBE_TIMEOUT,
        )
        .and_then(|version| {
            if version.is_empty() {
                Err("`docker version` named no server".to_owned())
            } else {
                Ok(Engine {
                    server_version: version,
                })
            }
        })
    });
    match probe {
        Ok(engine) => Some(engine.clone()),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("these tests need a running Docker engine; .ci/run starts one ({why})")
        }
        Err(why) => {
            let test = std::thread::current().name().unwrap_or("a test").to_owned();
            eprintln!(
                "skipping {test}: no Docker engine answers ({why}); scripts/services starts one"
            );
            None
        }
    }
}

impl Engine {
    /// The engine's version, e.g. `20.10.24`.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// See [`run`].
    pub fn run(&self, args: &[&str]) -> String {
        run(args)
    }

    /// See [`Scope::new`].
    pub fn scope(&self, test_name: &str) -> Scope {
        Scope::new(test_name)
    }

    /// See [`busybox_image`].
    pub fn busybox_image(&self, tag: &str) -> String {
        busybox_image(tag)
    }

    /// See [`big_image`].
    pub fn big_image(&self, tag: &str, megabytes: u32) -> String {
        big_image(tag, megabytes)
    }

    /// See [`Registry::start_any`].
    pub fn registry(&self) -> Registry {
        Registry::start_any()
    }
}

/// A loopback port free at the time of the call. Another process may take
/// it before the caller binds it; [`Registry::start_any`] retries for that.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}
