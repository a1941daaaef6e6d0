//! Registries that want a login, as real ones do: Basic auth (distribution's
//! htpasswd) and the bearer-token flow (distribution's `token` auth with a
//! token server on loopback), anonymous and with the device's login. The
//! free-disk check before a pull reads the image's size with the same
//! login the engine pulls with; a check that cannot be made is a warning
//! naming the image, never silence.

use std::path::PathBuf;

use osb_test_docker::{Registry, RegistryAuth, TokenIssuer, TokenPolicy};
use serde_json::json;

use super::{Osb, target};

const USER: &str = "device-7";
const PASSWORD: &str = "s3cret pass";
/// A reserve no disk has (1 EiB): a pull is refused if and only if the
/// image's size was read.
const NO_DISK: &[&str] = &["--disk-reserve-mb", "1099511627776"];

/// A device config holding `USER`'s login for `registry`.
fn device_config(osb: &Osb, registry: &Registry, password: &str) -> PathBuf {
    let path = osb.dir.path().join(format!(
        "device-{}-{}.toml",
        registry.port(),
        password.replace(' ', "_")
    ));
    std::fs::write(
        &path,
        format!(
            "[registries.\"{}\"]\nusername = \"{USER}\"\npassword = \"{password}\"\n",
            registry.addr()
        ),
    )
    .expect("write the device config");
    path
}

/// `osb apply` of one block running `image`, with `extra` arguments.
fn apply(osb: &Osb, app: &str, image: &str, extra: &[&str]) -> (bool, String) {
    let t = target(app, "1.0.0", json!({"app": {"image": image}}), json!({}));
    let mut args = vec!["--timeout", "60s"];
    args.extend_from_slice(extra);
    let out = osb.apply_with(&t, &args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn no_space(image: &str) -> String {
    format!("not enough disk to pull {image}")
}

#[test]
fn a_registry_wanting_a_basic_login_gets_the_devices_for_the_check_and_the_pull() {
    let Some(osb) = Osb::new("reg-basic") else {
        return;
    };
    let mut registry = Registry::start_any();
    let image = registry.push(&osb.engine.busybox_image("1"), "login/app:1");
    registry.set_auth(RegistryAuth::Htpasswd {
        username: USER.to_owned(),
        password: PASSWORD.to_owned(),
    });
    registry.restart();
    let config = device_config(&osb, &registry, PASSWORD);
    let config = config.to_str().expect("utf-8 path");

    // Without a login: the size cannot be read, and the warning says which
    // image and why; the engine's pull is refused too.
    let (ok, stderr) = apply(&osb, "nologin", &image, NO_DISK);
    assert!(!ok, "pulled without a login:\n{stderr}");
    assert!(!stderr.contains(&no_space(&image)), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("free disk not checked"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(
        warning.contains(&image) && warning.contains("wants a login"),
        "{warning}"
    );
    assert!(!osb_test_docker::image_exists(&image));

    // A wrong password: named as refused.
    let wrong = device_config(&osb, &registry, "wrong");
    let (ok, stderr) = apply(
        &osb,
        "wrong",
        &image,
        &[NO_DISK, &["--config", wrong.to_str().expect("utf-8")]].concat(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("refused the login in the device config"),
        "{stderr}"
    );

    // With the login: the size is read (so the 1 EiB reserve refuses the
    // pull), then, with a sane reserve, the engine pulls with it.
    let (ok, stderr) = apply(
        &osb,
        "login",
        &image,
        &[NO_DISK, &["--config", config]].concat(),
    );
    assert!(!ok && stderr.contains(&no_space(&image)), "{stderr}");
    let (ok, stderr) = apply(&osb, "login", &image, &["--config", config]);
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("free disk not checked"),
        "checked with the login, yet: {stderr}"
    );
    let running = osb.scope.containers();
    assert_eq!(running.len(), 1, "{running:#?}");
    assert_eq!(running[0].state, "running");
    drop(osb);
}

#[test]
fn a_token_registry_is_read_anonymously_and_with_the_devices_login() {
    let Some(osb) = Osb::new("reg-token") else {
        return;
    };
    let mut registry = Registry::start_any();
    // Pushed while it is open: a push would need a login of its own.
    let image = registry.push(&osb.engine.busybox_image("1"), "token/app:1");
    let private = registry.push(&osb.engine.busybox_image("1"), "token/private:1");

    // Public images: anyone gets a token, as on Docker Hub.
    let anyone = TokenIssuer::start(TokenPolicy::Anyone);
    registry.set_auth(anyone.registry_auth());
    registry.restart();
    let (ok, stderr) = apply(&osb, "anon", &image, NO_DISK);
    assert!(!ok && stderr.contains(&no_space(&image)), "{stderr}");
    assert!(anyone.issued() >= 1, "no token was asked for");
    let (ok, stderr) = apply(&osb, "anon", &image, &[]);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("free disk not checked"), "{stderr}");
    assert_eq!(osb.scope.containers().len(), 1);

    // Private images: tokens for the device's login only.
    let login = TokenIssuer::start(TokenPolicy::Login {
        username: USER.to_owned(),
        password: PASSWORD.to_owned(),
    });
    registry.set_auth(login.registry_auth());
    registry.restart();
    let (ok, stderr) = apply(&osb, "private", &private, NO_DISK);
    assert!(!ok);
    assert!(
        stderr.lines().any(|l| l.contains("free disk not checked")
            && l.contains(&private)
            && l.contains("wants a login")),
        "{stderr}"
    );
    assert!(login.refused() >= 1, "the token server was never asked");
    let config = device_config(&osb, &registry, PASSWORD);
    let config = config.to_str().expect("utf-8 path");
    let (ok, stderr) = apply(
        &osb,
        "private",
        &private,
        &[NO_DISK, &["--config", config]].concat(),
    );
    assert!(!ok && stderr.contains(&no_space(&private)), "{stderr}");
    let (ok, stderr) = apply(&osb, "private", &private, &["--config", config]);
    assert!(ok, "{stderr}");
    drop(osb);
}
