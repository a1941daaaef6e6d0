use serde_json::json;

use super::*;
use crate::target::AppClass;

const DOC: &str = include_str!("../../../docs/balena.md");

/// The code block of `docs/balena.md` that follows `after`.
fn doc_block(after: &str) -> &'static str {
    DOC.split_once(after)
        .and_then(|(_, rest)| rest.split_once("```"))
        .and_then(|(_, rest)| rest.split_once('\n'))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("docs/balena.md lost the block after '{after}'"))
}

/// The uuids and commits of the worked example, as the documentation
/// shortens them in the warnings.
const SHORT: &[(&str, &str)] = &[
    ("b7f3c2a19e8d4f60a5c4e3d2b1a09f8e", "<device>"),
    ("4b6e2f0c8a9d4e1f9c7b5a3d1e0f2a4c", "<host>"),
    ("900de4f3cbac4b9bbd232885a35e407b", "<supervisor>"),
    ("f1e2d3c4b5a6978877665544332211aa", "<fleet>"),
    ("0c8d4ea7e5b1f2a3c4d5e6f708192a3b", "<commit>"),
    ("e9c4a2b1d0f34c5b8a7d6e5f4c3b2a19", "<commit>"),
    ("c23e5a0f49d31ea8ca2a4866e1ba8482", "<commit>"),
];

#[test]
fn the_worked_example_becomes_the_documented_target() {
    let import = import(doc_block("## Worked example")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(import.format, BalenaFormat::V3);
    let expected = TargetState::from_json(doc_block("It becomes this target:"))
        .unwrap_or_else(|e| panic!("the documented target: {e}"));
    assert_eq!(
        import.target,
        expected,
        "\n--- got ---\n{}",
        import.target.to_json()
    );
    let classes: Vec<_> = import
        .target
        .apps
        .iter()
        .map(|(name, app)| format!("{name} {:?}", app.class))
        .collect();
    assert_eq!(
        classes,
        [
            "aarch64-supervisor System",
            "kitchendisplay App",
            "raspberrypi4-64 Os"
        ]
    );
    let warnings: Vec<String> = import
        .warnings
        .iter()
        .map(|w| {
            SHORT.iter().fold(w.to_string(), |text, (long, short)| {
                text.replace(long, short)
            })
        })
        .collect();
    let documented: Vec<&str> = doc_block("and these warnings").lines().collect();
    assert_eq!(
        warnings,
        documented,
        "\n--- got ---\n{}",
        warnings.join("\n")
    );
}

/// A v3 document of one fleet app `fleet` whose release `commit` has the
/// given services.
fn v3(services: Value) -> Value {
    json!({"dev": {"apps": {"a1": {
        "name": "fleet",
        "releases": {"0123456789abcdef": {"services": services}}
    }}}})
}

/// A service of image `img:1` with the given composition.
fn service(composition: Value) -> Value {
    json!({"image": "img:1", "environment": {}, "labels": {}, "composition": composition})
}

fn imported(document: &Value) -> BalenaImport {
    import_value(document).unwrap_or_else(|e| panic!("{e}\n{document:#}"))
}

fn refused(document: &Value) -> String {
    match import_value(document) {
        Ok(import) => panic!("accepted: {}", import.target.to_json()),
        Err(e) => e.to_string(),
    }
}

fn warnings(import: &BalenaImport) -> Vec<String> {
    import.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn refusals_name_the_field() {
    let fleet = |name: &str| json!({"name": name, "releases": {"c0ffee": {"services": {"web": service(json!({}))}}}});
    let cases = [
        (
            "two fleet apps",
            json!({"dev": {"apps": {"a1": fleet("one"), "a2": fleet("two")}}}),
            "dev.apps.a2: a second fleet app ('two'); the first is dev.apps.a1: a device runs one fleet",
        ),
        (
            "two fleet apps in v2",
            json!({"local": {"apps": {
                "1": {"name": "one", "commit": "c1", "services": {}},
                "2": {"name": "two", "commit": "c2", "services": {}}
            }}}),
            "local.apps.2: a second fleet app ('two'); the first is local.apps.1",
        ),
        (
            "a service with build",
            v3(json!({"web": service(json!({"build": "."}))})),
            "dev.apps.a1.releases.0123456789abcdef.services.web.composition.build: 'build' is not supported",
        ),
        (
            "a v2 service with build",
            json!({"local": {"apps": {"1": {"name": "app", "commit": "c1", "services": {
                "7": {"serviceName": "web", "image": "img:1", "build": {"context": "."}}
            }}}}}),
            "local.apps.1.services.7.build: 'build' is not supported",
        ),
        (
            "a hostapp service",
            json!({"dev": {"apps": {"h": {
                "name": "raspberrypi4-64", "is_host": true,
                "releases": {"c1": {"services": {"resinos": {
                    "image": "img:1",
                    "labels": {"io.balena.image.class": "hostapp", "io.balena.image.store": "root"}
                }}}}
            }}}}),
            "dev.apps.h.releases.c1.services.resinos.labels.io.balena.image.class: a hostapp (the host OS image) is not yet supported",
        ),
        (
            "an overlay named by its composition",
            v3(json!({"ext": service(json!({"labels": {"io.balena.image.class": "overlay"}}))})),
            "services.ext.composition.labels.io.balena.image.class: an overlay (a host OS extension) is not yet supported",
        ),
        (
            "a host image by its store alone",
            v3(json!({"os": {"image": "img:1", "labels": {"io.balena.image.store": "root"}}})),
            "services.os.labels.io.balena.image.store: an image for the host OS's 'root' store is not yet supported",
        ),
        (
            "apps as an array",
            json!({"dev": {"apps": [fleet("one")]}}),
            "dev.apps: expected an object, found an array",
        ),
        (
            "releases as an array",
            json!({"dev": {"apps": {"a1": {"name": "x", "releases": []}}}}),
            "dev.apps.a1.releases: expected an object, found an array",
        ),
        (
            "services as an array",
            v3(json!([service(json!({}))])),
            "dev.apps.a1.releases.0123456789abcdef.services: expected an object, found an array",
        ),
        (
            "environment as an array",
            v3(json!({"web": {"image": "img:1", "environment": ["A=1"]}})),
            "services.web.environment: expected an object, found an array",
        ),
        (
            "a label that is not a string",
            v3(json!({"web": {"image": "img:1", "labels": {"a": [1]}}})),
            "services.web.labels.a: expected a string, found an array",
        ),
        (
            "composition as an array",
            v3(json!({"web": {"image": "img:1", "composition": []}})),
            "services.web.composition: expected an object, found an array",
        ),
        (
            "contract requires not a list",
            v3(json!({"web": {"image": "img:1", "contract": {"requires": {"type": "x"}}}})),
            "services.web.contract.requires: expected a list, found an object",
        ),
        (
            "a contract requirement that is not an object",
            v3(json!({"web": {"image": "img:1", "contract": {"requires": ["hw"]}}})),
            "services.web.contract.requires[0]: expected an object, found a string",
        ),
        (
            "v2 apps as an array",
            json!({"local": {"apps": []}}),
            "local.apps: expected an object, found an array",
        ),
        (
            "a service without an image",
            v3(json!({"web": {"environment": {}}})),
            "dev.apps.a1.releases.0123456789abcdef.services.web: no 'image'",
        ),
        (
            "a v2 service without a name",
            json!({"local": {"apps": {"1": {"name": "app", "commit": "c1", "services": {
                "7": {"image": "img:1"}
            }}}}}),
            "local.apps.1.services.7: no 'serviceName'",
        ),
        (
            "an app without a name",
            json!({"dev": {"apps": {"a1": {"releases": {}}}}}),
            "dev.apps.a1: no 'name'",
        ),
        (
            "two releases",
            json!({"dev": {"apps": {"a1": {"name": "x", "releases": {"c1": {}, "c2": {}}}}}}),
            "dev.apps.a1.releases: 2 releases: an app runs one release at a time",
        ),
        (
            "two devices",
            json!({"d1": {"apps": {}}, "d2": {"apps": {}}}),
            "2 devices: a target state is one device's",
        ),
        (
            "an unknown class",
            json!({"dev": {"apps": {"a1": {"name": "x", "class": "service"}}}}),
            "dev.apps.a1.class: unknown app class 'service' (fleet, app or block)",
        ),
        (
            "a block-class app",
            json!({"dev": {"apps": {"a1": {"name": "x", "class": "block"}}}}),
            "dev.apps.a1.class: an app of class 'block' that is neither the host OS nor the supervisor is not yet supported",
        ),
        (
            "a stopped service",
            v3(json!({"web": {"image": "img:1", "running": false}})),
            "services.web.running: a service kept stopped ('running: false') is not yet supported",
        ),
        (
            "a key in both spellings",
            v3(json!({"web": service(json!({"depends_on": [], "dependsOn": []}))})),
            "services.web.composition.depends_on: 'depends_on' is given twice, as 'dependsOn' and as 'depends_on'",
        ),
        (
            "an app name with nothing to keep",
            json!({"dev": {"apps": {"a1": {"name": "__", "releases": {}}}}}),
            "dev.apps.a1.name: no OSB name can be made from '__'",
        ),
        (
            "two apps named alike",
            json!({"dev": {"apps": {
                "a1": {"name": "Kitchen", "releases": {}},
                "a2": {"name": "kitchen", "is_host": true, "releases": {}}
            }}}),
            "dev.apps.a2.name: 'kitchen' becomes 'kitchen', which dev.apps.a1 already has",
        ),
        (
            "two services named alike",
            v3(json!({"Web": service(json!({})), "web": service(json!({}))})),
            "services.web: 'web' becomes 'web', which dev.apps.a1.releases.0123456789abcdef.services.Web already has",
        ),
        (
            "a bad image",
            v3(json!({"web": {"image": "Bad:Image:1"}})),
            "dev.apps.a1.releases.0123456789abcdef.services.web.image: invalid image reference",
        ),
        (
            "a bad composition value",
            v3(json!({"web": service(json!({"ports": ["80:80:80:80"]}))})),
            "services.web.composition.ports[0]: invalid port",
        ),
        (
            "an undeclared volume",
            v3(json!({"web": service(json!({"volumes": ["data:/data"]}))})),
            "dev.apps.a1.releases.0123456789abcdef: services.web.volumes[0]: no volume named 'data'",
        ),
        (
            "not a balena document",
            json!({"version": 1, "apps": {}}),
            "not a balena target state",
        ),
    ];
    for (what, document, expect) in cases {
        let error = refused(&document);
        assert!(
            error.contains(expect),
            "{what}: '{error}' does not say '{expect}'"
        );
    }
}

#[test]
fn text_that_is_not_json_or_repeats_a_key_is_refused() {
    for (text, expect) in [
        ("{", "not valid JSON"),
        (
            r#"{"dev": {"apps": {"a": {"name": "x"}, "a": {"name": "y"}}}}"#,
            "not valid JSON: dev.apps: duplicate key 'a'",
        ),
        (
            r#"{"local": {"apps": {}}} x"#,
            "not valid JSON: trailing characters",
        ),
    ] {
        let error = match import(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(expect),
            "{text}: '{error}' does not say '{expect}'"
        );
    }
}

#[test]
fn documents_are_told_apart() {
    for (document, balena) in [
        (json!({"local": {"apps": {}}}), true),
        (json!({"local": {"apps": {}}, "dependent": {}}), true),
        (json!({"uuid": {"name": "d", "apps": {}}}), true),
        (json!({"version": 1, "apps": {}}), false),
        (json!({"version": 1, "local": {}}), false),
        (json!({"uuid": {"name": "d"}}), false),
        (json!({}), false),
        (json!([]), false),
        (json!("local"), false),
    ] {
        assert_eq!(is_balena_document(&document), balena, "{document}");
    }
}

#[test]
fn release_versions_come_from_a_semver_else_the_commit() {
    let with = |release: Value| {
        let document = json!({"dev": {"apps": {"a1": {"name": "app", "releases": {
            "c23e5a0f49d31ea8ca2a4866e1ba8482": release
        }}}}});
        let import = imported(&document);
        (
            import.target.apps["app"].release.version.to_string(),
            warnings(&import),
        )
    };
    let cases = [
        (json!({}), "0.0.0+c23e5a0f49d3", None),
        (json!({"semver": "1.2.3"}), "1.2.3", None),
        (json!({"release_version": "1.2.3+rev2"}), "1.2.3+rev2", None),
        (
            json!({"semver": "2.0.0", "release_version": "1.0.0"}),
            "2.0.0",
            None,
        ),
        (
            json!({"semver": "v1"}),
            "0.0.0+c23e5a0f49d3",
            Some("releases.c23e5a0f49d31ea8ca2a4866e1ba8482.semver: 'v1' is not a semver"),
        ),
    ];
    for (release, version, warning) in cases {
        let (got, warned) = with(release.clone());
        assert_eq!(got, version, "{release}");
        if let Some(warning) = warning {
            assert!(
                warned.iter().any(|w| w.contains(warning)),
                "{release}: {warned:#?}"
            );
        }
    }
    // A commit of other characters keeps what build metadata may hold.
    let document = json!({"local": {"apps": {"1": {
        "name": "app", "commit": "local.release/1", "services": {}
    }}}});
    assert_eq!(
        imported(&document).target.apps["app"]
            .release
            .version
            .to_string(),
        "0.0.0+localrelease"
    );
}

#[test]
fn names_are_made_valid_and_reported() {
    for (balena, osb) in [
        ("pi4test", "pi4test"),
        ("KitchenDisplay", "kitchendisplay"),
        ("My Fleet", "my-fleet"),
        ("_hidden.app", "hidden-app"),
        ("café", "caf-"),
    ] {
        let document = json!({"dev": {"apps": {"a1": {"name": balena, "releases": {
            "c1": {"services": {balena: service(json!({}))}}
        }}}}});
        let import = imported(&document);
        let app = import
            .target
            .apps
            .get(osb)
            .unwrap_or_else(|| panic!("{balena}: {}", import.target.to_json()));
        assert!(app.release.blocks.contains_key(osb), "{balena}");
        let renamed = warnings(&import)
            .iter()
            .any(|w| w.contains(&format!("'{balena}' is named '{osb}'")));
        assert_eq!(renamed, balena != osb, "{balena}: {:#?}", import.warnings);
    }
}

#[test]
fn references_to_a_renamed_service_follow_it() {
    let document = v3(json!({
        "Web": service(json!({"depends_on": ["DB"]})),
        "DB": service(json!({})),
        "Worker": service(json!({"depends_on": {"DB": {"condition": "service_started"}}})),
        "Sidecar": service(json!({"networkMode": "service:Web"}))
    }));
    let import = imported(&document);
    let blocks = &import.target.apps["fleet"].release.blocks;
    assert_eq!(
        blocks.keys().map(BlockName::as_str).collect::<Vec<_>>(),
        ["db", "sidecar", "web", "worker"]
    );
    assert!(blocks["web"].depends_on.contains_key("db"));
    assert!(blocks["worker"].depends_on.contains_key("db"));
    let mode = serde_json::to_value(&blocks["sidecar"].network_mode).unwrap_or_default();
    assert_eq!(mode, json!("service:web"));
}

#[test]
fn null_is_no_value() {
    let document = json!({"dev": {"name": null, "config": null, "apps": {"a1": {
        "id": null, "name": "fleet", "class": null, "is_host": null, "parent_app": null,
        "releases": {"c1": {"id": null, "semver": null, "services": {"web": {
            "id": null, "image": "img:1", "environment": null, "labels": null,
            "running": null, "contract": null, "composition": null
        }}}}
    }}}});
    let import = imported(&document);
    assert_eq!(warnings(&import), Vec::<String>::new());
    assert_eq!(
        import.target.apps["fleet"].release.version.to_string(),
        "0.0.0+c1"
    );
    let missing = json!({"dev": {"apps": {"a1": {"name": null}}}});
    assert!(refused(&missing).contains("dev.apps.a1: no 'name'"));
}

#[test]
fn the_service_entry_wins_over_its_composition() {
    let document = v3(json!({"web": {
        "image": "registry.example/web:2",
        "environment": {"A": "service", "B": "service"},
        "labels": {"tier": "service"},
        "composition": {
            "image": "registry.example/web:1",
            "environment": {"A": "composition", "C": "composition"},
            "labels": {"tier": "composition", "team": "composition"}
        }
    }}));
    let import = imported(&document);
    let web = &import.target.apps["fleet"].release.blocks["web"];
    assert_eq!(web.image.to_string(), "registry.example/web:2");
    let env: Vec<_> = web
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(env, ["A=service", "B=service", "C=composition"]);
    let labels: Vec<_> = web.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(labels, ["team=composition", "tier=service"]);
    assert!(
        warnings(&import).contains(
            &"dev.apps.a1.releases.0123456789abcdef.services.web.composition.image: \
              overridden by the service's image 'registry.example/web:2'"
                .to_owned()
        ),
        "{:#?}",
        import.warnings
    );
}

#[test]
fn the_contract_gives_the_requirements_and_the_rest_is_reported() {
    let document = v3(json!({"web": {
        "image": "img:1",
        "contract": {
            "type": "sw.container",
            "name": "web",
            "requires": [
                {"type": "hw.device-type", "slug": "raspberrypi4-64"},
                {"type": "sw.l4t", "version": "32.2"}
            ]
        },
        "composition": {"x-osb": {"requires": [{"type": "arch.sw", "slug": "aarch64"}]}}
    }}));
    let import = imported(&document);
    let web = &import.target.apps["fleet"].release.blocks["web"];
    let requires: Vec<String> = web
        .requires
        .iter()
        .map(|r| Value::Object(r.0.clone()).to_string())
        .collect();
    assert_eq!(
        requires,
        [
            r#"{"slug":"aarch64","type":"arch.sw"}"#,
            r#"{"slug":"raspberrypi4-64","type":"hw.device-type"}"#,
            r#"{"type":"sw.l4t","version":"32.2"}"#,
        ]
    );
    let warned = warnings(&import);
    for key in ["name", "type"] {
        assert!(
            warned.iter().any(|w| w.contains(&format!(
                "services.web.contract.{key}: not carried over: only the contract's 'requires' is"
            ))),
            "{key}: {warned:#?}"
        );
    }
}

#[test]
fn what_is_not_carried_over_is_reported_with_its_path() {
    let document = json!({
        "dev": {
            "name": "kitchen",
            "config": {"RESIN_HOST_CONFIG_gpu_mem": "16"},
            "colour": "red",
            "apps": {
                "a1": {
                    "id": 7,
                    "name": "fleet",
                    "parent_app": "p",
                    "releases": {"c1": {
                        "id": 8,
                        "services": {"web": {
                            "id": 9,
                            "image_id": 10,
                            "image": "img:1",
                            "running": true,
                            "labels": {
                                "io.balena.features.optional": "1",
                                "io.balena.features.dbus": "1"
                            },
                            "composition": {"fooBar": 1, "volumes": ["/data"]},
                            "size": 3
                        }}
                    }}
                },
                "a2": {"name": "empty", "is_host": true}
            }
        }
    });
    let import = imported(&document);
    let s = "dev.apps.a1.releases.c1.services.web";
    let expected = [
        "dev.apps.a1.id: balena's database id: not carried over".to_owned(),
        "dev.apps.a1.parent_app: not carried over".to_owned(),
        "dev.apps.a1.releases.c1.id: balena's database id: not carried over".to_owned(),
        format!("{s}.composition.fooBar: not supported, ignored"),
        format!("{s}.composition.volumes[0]: anonymous volume '/data'"),
        format!("{s}.id: balena's database id: not carried over"),
        format!("{s}.image_id: balena's database id: not carried over"),
        format!("{s}.size: not supported, ignored"),
        "dev.apps.a2.releases: no release: the app has nothing to run, and is left out".to_owned(),
        "dev.colour: not supported, ignored".to_owned(),
        "dev.config.RESIN_HOST_CONFIG_gpu_mem: device configuration: not carried over".to_owned(),
        "dev.name: the device's name: not carried over".to_owned(),
    ];
    let warned = warnings(&import);
    assert_eq!(warned.len(), expected.len(), "{warned:#?}");
    for (got, want) in warned.iter().zip(&expected) {
        assert!(got.starts_with(want.as_str()), "'{got}' is not '{want}...'");
    }
    // The label stays, and makes the block optional.
    let web = &import.target.apps["fleet"].release.blocks["web"];
    assert_eq!(web.labels["io.balena.features.optional"], "1");
    assert!(web.optional);
    assert_eq!(
        import
            .target
            .apps
            .keys()
            .map(AppName::as_str)
            .collect::<Vec<_>>(),
        ["fleet"]
    );
}

#[test]
fn camel_case_compose_keys_are_read_and_reported_as_written() {
    let document = json!({"local": {"apps": {"1": {
        "name": "app", "commit": "c1", "releaseVersion": "1.1.1",
        "services": {
            "2": {"serviceName": "db", "image": "img:1", "serviceId": 2, "imageId": 3},
            "3": {
                "serviceName": "web", "image": "img:1", "running": true,
                "dependsOn": ["db"],
                "fooBar": true
            }
        },
        "volumes": {}, "networks": {}
    }}}});
    let import = imported(&document);
    assert_eq!(import.format, BalenaFormat::V2);
    let app = &import.target.apps["app"];
    assert_eq!(app.class, AppClass::App);
    assert_eq!(app.release.version.to_string(), "1.1.1");
    assert!(app.release.blocks["web"].depends_on.contains_key("db"));
    assert!(
        warnings(&import)
            .contains(&"local.apps.1.services.3.fooBar: not supported, ignored".to_owned()),
        "{:#?}",
        import.warnings
    );
}

#[test]
fn a_local_mode_target_becomes_one_app() {
    // As the supervisor's own test data has it (`uuid-target-state.json`),
    // less the settings the compose importer may or may not read.
    let document = json!({
        "local": {
            "name": "white-tree",
            "config": {"RESIN_SUPERVISOR_POLL_INTERVAL": "900000"},
            "apps": {"1623449": {
                "appId": 1623449,
                "name": "pi4test",
                "commit": "c23e5a0f49d31ea8ca2a4866e1ba8482",
                "releaseId": 1551563,
                "services": {"482141": {
                    "restart": "always",
                    "volumes": ["resin-data:/data"],
                    "labels": {"io.resin.features.supervisor-api": "1"},
                    "imageId": 2781425,
                    "serviceName": "main",
                    "image": "registry2.balena-cloud.com/v2/eed0b001166e66b841336aba6ca7ea8f@sha256:5749b6b02f2bf475463cd63c5acf1aabb585313ff12769b5c2f7c3b23e73c6c7",
                    "running": true,
                    "environment": {"LANG": "C"}
                }},
                "volumes": {"resin-data": {}},
                "networks": {}
            }}
        },
        "dependent": {"apps": {}, "devices": {}}
    });
    let import = imported(&document);
    let expected = TargetState::from_json(
        &json!({
            "version": 1,
            "apps": {"pi4test": {
                "class": "app",
                "release": {
                    "version": "0.0.0+c23e5a0f49d3",
                    "blocks": {"main": {
                        "image": "registry2.balena-cloud.com/v2/eed0b001166e66b841336aba6ca7ea8f@sha256:5749b6b02f2bf475463cd63c5acf1aabb585313ff12769b5c2f7c3b23e73c6c7",
                        "environment": {"LANG": "C"},
                        "labels": {"io.resin.features.supervisor-api": "1"},
                        "volumes": [{"type": "volume", "source": "resin-data", "target": "/data"}],
                        "restart": "always"
                    }}
                },
                "volumes": {"resin-data": {}}
            }}
        })
        .to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(import.target, expected, "{}", import.target.to_json());
    let paths: Vec<&str> = import.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "local.apps.1623449.appId",
            "local.apps.1623449.releaseId",
            "local.apps.1623449.services.482141.imageId",
            "local.config.RESIN_SUPERVISOR_POLL_INTERVAL",
            "local.name",
        ]
    );
}

#[test]
fn the_supervisor_is_known_by_its_app_uuid_or_its_name() {
    let app = |uuid: &str, name: &str| {
        let document = json!({"dev": {"apps": {uuid: {"name": name, "class": "app", "releases": {
            "c1": {"services": {"main": service(json!({}))}}
        }}}}});
        import_value(&document).map(|i| i.target.apps.values().map(|a| a.class).collect::<Vec<_>>())
    };
    assert_eq!(
        app("6822565f766e413e96d9bebe2227cdcc", "whatever"),
        Ok(vec![AppClass::System])
    );
    assert_eq!(app("u1", "aarch64-supervisor"), Ok(vec![AppClass::System]));
    assert_eq!(app("u1", "balena-supervisor"), Ok(vec![AppClass::System]));
    // Another app of class `app` is not one OSB takes yet.
    assert!(app("u1", "my-supervisor").is_err());
}

#[test]
fn a_v2_app_without_a_commit_is_left_out_and_reported() {
    let document = json!({"local": {"apps": {"1": {"name": "app", "services": {}}}}});
    let import = imported(&document);
    assert!(import.target.apps.is_empty());
    assert_eq!(
        warnings(&import),
        ["local.apps.1: no 'commit': the app has no release to run, and is left out"]
    );
}

#[test]
fn a_host_port_published_by_two_apps_is_refused_in_target_terms() {
    let document = json!({"dev": {"apps": {
        "a1": {"name": "fleet", "releases": {"c1": {"services": {
            "web": service(json!({"ports": ["8080:80"]}))
        }}}},
        "h": {"name": "host", "is_host": true, "releases": {"c2": {"services": {
            "admin": service(json!({"ports": ["8080:80"]}))
        }}}}
    }}});
    let error = refused(&document);
    assert!(
        error.starts_with("the target it maps to is refused: ") && error.contains("8080"),
        "{error}"
    );
}

#[test]
fn the_service_entry_update_labels_choose_the_strategy() {
    use crate::target::UpdateStrategy;
    let document = v3(json!({"web": {
        "image": "img:1", "environment": {},
        "labels": {"io.balena.update.strategy": "kill-then-download"},
        "composition": {"labels": {"io.balena.update.strategy": "hand-over"}}
    }}));
    let import = imported(&document);
    assert_eq!(
        import.target.apps["fleet"].release.blocks["web"].update_strategy,
        UpdateStrategy::KillThenDownload
    );
    let document = v3(json!({"web": {
        "image": "img:1", "environment": {},
        "labels": {"io.balena.update.strategy": "sometimes"},
        "composition": {}
    }}));
    assert_eq!(
        refused(&document),
        "dev.apps.a1.releases.0123456789abcdef.services.web.labels.io.balena.update.strategy: \
         unknown update strategy 'sometimes' (download-then-kill, kill-then-download, \
         delete-then-download or hand-over)"
    );
}
