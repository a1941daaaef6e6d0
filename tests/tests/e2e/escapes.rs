//! A plugin cannot leave its grants through links it plants in them: every
//! preopen is opened beneath the device's granted directory without
//! following a link, at every instantiation.

use osb_plugin_host::LoadError;
use osb_tests::hostile::{HOSTILE, Setup, apply, edited, probe_answers, requesting, rw_grant};
use osb_tests::{Fixture, name};
use serde_json::json;

/// A secret outside every grant, and the grant `G` (`<fixture>/grant`).
fn ground(fx: &Fixture) -> std::path::PathBuf {
    let grant = fx.path().join("grant");
    std::fs::create_dir_all(&grant).unwrap();
    std::fs::write(fx.path().join("secret"), "secret").unwrap();
    grant
}

#[test]
fn a_link_planted_in_a_grant_does_not_become_a_later_versions_preopen() {
    let fx = Fixture::new();
    let grant = ground(&fx);
    // Version 0.1.0 plants `G/link -> ../../..` (that is `/`).
    let v1 = edited(&fx, "v1", requesting(&grant));
    let host = Setup::mode("symlink")
        .grants(&rw_grant(&grant))
        .config(&[("path", "/data/link"), ("target", "../../..")])
        .package(v1)
        .start(&fx);
    assert_eq!(apply(&host).unwrap(), json!({ "ok": null }));
    assert!(grant.join("link").symlink_metadata().unwrap().is_symlink());

    // A signed 0.2.0 asks for a preopen at `G/link`: inside the grant by
    // its text, `/` by the link. It must not load.
    let link = grant.join("link");
    let v2 = edited(&fx, "v2", |t| {
        requesting(&grant)(t)
            .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
            .replace(
                "fs = [",
                &format!(
                    "fs = [{{ host = \"{}\", guest = \"/root\", mode = \"rw\" }}, ",
                    link.display()
                ),
            )
    });
    let err = host.load(&v2).unwrap_err();
    assert!(matches!(err, LoadError::SelfCheck { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("without following links") && message.contains("link"),
        "{message}"
    );
    // The running version keeps serving, the honest plugin too.
    assert_eq!(
        host.info(&name(HOSTILE)).unwrap().version.to_string(),
        "0.1.0"
    );
    probe_answers(&host);
}

#[test]
fn a_granted_directory_swapped_for_a_link_is_not_followed_by_the_next_instance() {
    let fx = Fixture::new();
    let grant = ground(&fx);
    std::fs::create_dir(grant.join("sub")).unwrap();
    // One unchanged package asks for `G` and `G/sub`; the device grants `G`.
    let sub = grant.join("sub");
    let pkg = edited(&fx, "pkg", |t| {
        requesting(&grant)(t).replace(
            "fs = [",
            &format!(
                "fs = [{{ host = \"{}\", guest = \"/sub\", mode = \"rw\" }}, ",
                sub.display()
            ),
        )
    });
    let grants = rw_grant(&grant);
    let setup = || {
        Setup::mode("swap-dir")
            .grants(&grants)
            .config(&[("path", "/data/sub"), ("target", "../../..")])
            .package(pkg.clone())
    };
    let host = setup().start(&fx);
    // The plugin replaces `sub` with a link to `/`.
    assert_eq!(apply(&host).unwrap(), json!({ "ok": null }));
    assert!(sub.symlink_metadata().unwrap().is_symlink());

    // Its next instance would preopen `/` at `/sub`: refused, naming it.
    let err = host.instantiate_fresh(&name(HOSTILE)).unwrap_err();
    assert!(err.to_string().contains("without following links"), "{err}");
    // A restart does not help it either: the package no longer loads.
    drop(host);
    let again = osb_plugin_host::PluginHost::new(setup().settings(&fx)).unwrap();
    let err = again.load(&pkg).unwrap_err().to_string();
    assert!(
        err.contains("sub") && err.contains("without following links"),
        "{err}"
    );
    again
        .load(&fx.signed(osb_tests::hostile::PROBE, "plugins"))
        .unwrap();
    probe_answers(&again);
}
