//! Planner tables: a current state and a target in, the plan out as lines.

use std::collections::BTreeMap;

use super::*;
use crate::current::{Image, Network, Volume};
use crate::labels;

// --- fixtures -------------------------------------------------------------

fn target(json: &str) -> TargetState {
    TargetState::from_json(json).unwrap_or_else(|e| panic!("fixture target: {e}"))
}

/// A target with one app, `main`, at `version`, with `blocks` (the inside of
/// a JSON object) and the volume `data`.
fn app(version: &str, blocks: &str) -> TargetState {
    target(&format!(
        r#"{{"version": 1, "apps": {{"main": {{"class": "app",
            "release": {{"version": "{version}", "blocks": {{{blocks}}}}},
            "volumes": {{"data": {{}}}}}}}}}}"#
    ))
}

const DB: &str = r#""db": {"image": "localhost:5000/db:1",
    "volumes": [{"type": "volume", "source": "data", "target": "/data"}],
    "healthcheck": {"test": {"cmd": ["pg_isready"]}}}"#;

/// db and web at release 1.0.0, web on `web_image` with `strategy`.
fn db_web(version: &str, web_image: &str, strategy: &str) -> TargetState {
    app(
        version,
        &format!(
            r#"{DB}, "web": {{"image": "{web_image}", "depends_on": {{"db": "healthy"}},
                "update_strategy": {strategy}}}"#
        ),
    )
}

fn id(text: &str) -> BlockId {
    let (app, block) = text
        .split_once('/')
        .unwrap_or_else(|| panic!("block id {text}"));
    BlockId::new(
        &AppName::new(app).unwrap_or_else(|e| panic!("{e}")),
        &BlockName::new(block).unwrap_or_else(|e| panic!("{e}")),
    )
}

fn image_id(image: &ImageRef) -> ImageId {
    ImageId(format!("sha256:{}", image.canonical()))
}

fn container_for(labels: BlockLabels, block: &Block, status: ContainerStatus) -> Container {
    let volumes = block
        .volumes
        .iter()
        .filter_map(|m| m.volume())
        .map(|v| labels::volume_name(&labels.app, v))
        .collect();
    let networks = block
        .effective_networks()
        .iter()
        .map(|n| labels::network_name(&labels.app, n))
        .collect();
    Container {
        id: ContainerId(labels.container_name()),
        owner: Some(labels),
        image: image_id(&block.image),
        status,
        volumes,
        networks,
    }
}

/// What a started container looks like: starting if it has a healthcheck.
fn started(block: &Block) -> ContainerStatus {
    let checked = block.healthcheck.as_ref().is_some_and(|h| !h.is_disabled());
    ContainerStatus::Running {
        health: if checked {
            Health::Starting
        } else {
            Health::NoCheck
        },
    }
}

/// The current state of a device that runs `target` exactly, every block
/// running (and healthy if it has a healthcheck).
fn converged(target: &TargetState) -> CurrentState {
    let mut current = CurrentState::default();
    for (app_name, app) in &target.apps {
        for (volume, config) in &app.volumes {
            current.volumes.push(volume_of(app_name, volume, config));
        }
        for network in app_networks(app) {
            let config = app.networks.get(&network).cloned().unwrap_or_default();
            current
                .networks
                .push(network_of(app_name, &network, &config));
        }
        for (block_name, block) in &app.release.blocks {
            if !current
                .images
                .iter()
                .any(|i| i.id == image_id(&block.image))
            {
                current.images.push(Image {
                    id: image_id(&block.image),
                    references: vec![block.image.clone()],
                    class_labels: BTreeMap::new(),
                });
            }
            let labels = BlockLabels {
                app: app_name.clone(),
                block: block_name.clone(),
                release: app.release.version.clone(),
                config_hash: app
                    .container_hash(block_name)
                    .unwrap_or_else(|| block.config_hash()),
            };
            let status = match started(block) {
                ContainerStatus::Running {
                    health: Health::Starting,
                } => ContainerStatus::Running {
                    health: Health::Healthy,
                },
                other => other,
            };
            current
                .containers
                .push(container_for(labels, block, status));
        }
    }
    current
}

/// A volume as the runtime creates it: labelled with its settings' hash.
fn volume_of(app: &AppName, volume: &VolumeName, config: &VolumeConfig) -> Volume {
    Volume {
        name: labels::volume_name(app, volume),
        app: app.clone(),
        volume: volume.clone(),
        config_hash: Some(labels::volume_hash(config)),
        labels: config.labels.clone(),
    }
}

/// A network as the runtime creates it: labelled with its settings' hash.
fn network_of(app: &AppName, network: &NetworkName, config: &NetworkConfig) -> Network {
    Network {
        name: labels::network_name(app, network),
        app: app.clone(),
        network: network.clone(),
        config_hash: Some(labels::network_hash(config)),
    }
}

fn set_status(current: &mut CurrentState, block: &str, status: ContainerStatus) {
    let block = id(block);
    let mut found = false;
    for c in current
        .containers
        .iter_mut()
        .filter(|c| c.block_id() == Some(block.clone()))
    {
        c.status = status;
        found = true;
    }
    assert!(found, "no container for {block}");
}

fn synced() -> Conditions {
    Conditions {
        time: TimeStatus::Synced,
        ..Conditions::default()
    }
}

// --- the checks -----------------------------------------------------------

/// Plans one batch and compares it, one step a line, with `expect`.
fn check(current: &CurrentState, target: &TargetState, conditions: &Conditions, expect: &str) {
    let got: Vec<String> = plan(current, target, conditions)
        .iter()
        .map(ToString::to_string)
        .collect();
    let want: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got, want, "\n--- got ---\n{}\n", got.join("\n"));
}

/// Plans and applies batches (as a perfect engine would, every healthcheck
/// passing before the next plan) until the plan is empty or only waits;
/// compares the batches, one a line, with `expect`.
fn converge(
    current: &mut CurrentState,
    target: &TargetState,
    conditions: &Conditions,
    expect: &str,
) {
    let mut batches = Vec::new();
    for round in 1.. {
        assert!(round < 30, "no convergence:\n{}", batches.join("\n"));
        for c in &mut current.containers {
            if c.status
                == (ContainerStatus::Running {
                    health: Health::Starting,
                })
            {
                c.status = ContainerStatus::Running {
                    health: Health::Healthy,
                };
            }
        }
        let steps = plan(current, target, conditions);
        if steps.is_empty() {
            batches.push("converged".to_owned());
            break;
        }
        batches.push(
            steps
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        );
        if steps.iter().all(|s| matches!(s, Step::Wait { .. })) {
            batches.push("blocked".to_owned());
            break;
        }
        for step in &steps {
            apply(current, target, step);
        }
    }
    let want: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(batches, want, "\n--- got ---\n{}\n", batches.join("\n"));
}

/// What each step's documentation says it does to the current state.
fn apply(current: &mut CurrentState, target: &TargetState, step: &Step) {
    match step {
        Step::FetchImage { image } => current.images.push(Image {
            id: image_id(image),
            references: vec![image.clone()],
            class_labels: BTreeMap::new(),
        }),
        Step::CreateVolume {
            app,
            volume,
            config,
        } => current.volumes.push(volume_of(app, volume, config)),
        Step::RemoveVolume { name, .. } => current.volumes.retain(|v| v.name != *name),
        Step::CreateNetwork {
            app,
            network,
            config,
        } => current.networks.push(network_of(app, network, config)),
        Step::RemoveNetwork { name, .. } => current.networks.retain(|n| n.name != *name),
        Step::CreateContainer { labels, spec, .. } => {
            let container = container_for(labels.clone(), spec, ContainerStatus::Created);
            assert!(
                current.images.iter().any(|i| i.id == container.image),
                "created {} without its image",
                labels.container_name()
            );
            current.containers.push(container);
        }
        Step::StartContainer { container } => {
            let block = container
                .owner
                .as_ref()
                .and_then(|o| target.apps.get(&o.app)?.release.blocks.get(&o.block));
            let status = match block {
                // A one-shot block runs to completion at once.
                Some(b) if b.restart() == RestartPolicy::No => ContainerStatus::Exited { code: 0 },
                Some(b) => started(b),
                None => ContainerStatus::Running {
                    health: Health::NoCheck,
                },
            };
            for c in current
                .containers
                .iter_mut()
                .filter(|c| c.id == container.id)
            {
                c.status = status;
            }
        }
        Step::StopContainer { container, .. } => {
            for c in current
                .containers
                .iter_mut()
                .filter(|c| c.id == container.id)
            {
                c.status = ContainerStatus::Exited { code: 143 };
            }
        }
        Step::RemoveContainer { container } => current.containers.retain(|c| c.id != container.id),
        Step::RemoveImage { image, .. } => current.images.retain(|i| i.id != *image),
        Step::TakeLock { block } => {
            current.locks.insert(block.clone());
        }
        Step::ReleaseLock { block } => {
            current.locks.remove(block);
        }
        Step::Wait { .. } => {}
        Step::InstallOverlay { block, image, .. } => {
            current.extensions.push(crate::current::InstalledExtension {
                block: block.clone(),
                image: image.clone(),
            });
        }
        Step::InstallHostapp { image, .. } => current.host.staged = Some(image.clone()),
    }
}

// --- tables ---------------------------------------------------------------

#[test]
fn from_nothing() {
    let t = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    check(
        &CurrentState::default(),
        &t,
        &synced(),
        "
        create volume main/data
        create network main/default
        fetch localhost:5000/db:1
        fetch localhost:5000/web:1
        ",
    );
    converge(
        &mut CurrentState::default(),
        &t,
        &synced(),
        "
        create volume main/data; create network main/default; fetch localhost:5000/db:1; fetch localhost:5000/web:1
        create main/db@1.0.0; create main/web@1.0.0
        start main/db@1.0.0; wait main/web: db not healthy
        start main/web@1.0.0
        converged
        ",
    );
}

#[test]
fn converged_is_empty() {
    let t = db_web("1.0.0", "localhost:5000/web:1", r#""kill-then-download""#);
    check(&converged(&t), &t, &synced(), "");
    // The realistic multi-app target too, with a one-shot block completed.
    let realistic = target(crate::target::tests::realistic());
    let mut current = converged(&realistic);
    set_status(
        &mut current,
        "main/migrate",
        ContainerStatus::Exited { code: 0 },
    );
    check(&current, &realistic, &synced(), "");
}

#[test]
fn image_change_download_then_kill() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    let new = db_web("2.0.0", "localhost:5000/web:2", r#""download-then-kill""#);
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        fetch localhost:5000/web:2
        create main/web@2.0.0
        lock main/web
        stop main/web@1.0.0
        remove main/web@1.0.0; start main/web@2.0.0
        unlock main/web; remove image localhost:5000/web:1
        converged
        ",
    );
}

#[test]
fn image_change_kill_then_download() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""kill-then-download""#);
    let new = db_web("2.0.0", "localhost:5000/web:2", r#""kill-then-download""#);
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        lock main/web
        stop main/web@1.0.0
        remove main/web@1.0.0
        fetch localhost:5000/web:2; unlock main/web; remove image localhost:5000/web:1
        create main/web@2.0.0
        start main/web@2.0.0
        converged
        ",
    );
}

#[test]
fn image_change_hand_over() {
    let strategy = r#"{"hand-over": {"timeout": "30s"}}"#;
    let web = |image: &str| {
        format!(
            r#""web": {{"image": "{image}", "update_strategy": {strategy},
                "healthcheck": {{"test": {{"shell": "curl -f localhost"}}}}}}"#
        )
    };
    let old = app("1.0.0", &web("localhost:5000/web:1"));
    let new = app("2.0.0", &web("localhost:5000/web:2"));
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        fetch localhost:5000/web:2
        create main/web@2.0.0
        start main/web@2.0.0
        lock main/web
        stop main/web@1.0.0 (hand over, up to 30s)
        remove main/web@1.0.0
        unlock main/web; remove image localhost:5000/web:1
        converged
        ",
    );

    // While the new container is not healthy, the old one keeps running.
    let mut current = converged(&old);
    let hash = new.apps["main"].release.blocks["web"].config_hash();
    let labels = BlockLabels {
        app: id("main/web").app,
        block: id("main/web").block,
        release: semver::Version::new(2, 0, 0),
        config_hash: hash,
    };
    current.containers.push(container_for(
        labels,
        &new.apps["main"].release.blocks["web"],
        ContainerStatus::Running {
            health: Health::Starting,
        },
    ));
    current.images.push(Image {
        id: ImageId("sha256:new".to_owned()),
        references: vec![ImageRef::parse("localhost:5000/web:2").unwrap_or_else(|e| panic!("{e}"))],
        class_labels: BTreeMap::new(),
    });
    check(
        &current,
        &new,
        &synced(),
        "wait main/web: new container not up yet",
    );
}

#[test]
fn config_change_recreates() {
    let old = app("1.0.0", r#""web": {"image": "localhost:5000/web:1"}"#);
    let new = app(
        "1.0.1",
        r#""web": {"image": "localhost:5000/web:1", "environment": {"LOG": "debug"}}"#,
    );
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        create main/web@1.0.1
        lock main/web
        stop main/web@1.0.0
        remove main/web@1.0.0; start main/web@1.0.1
        unlock main/web
        converged
        ",
    );
    // A release that leaves the block's container as it was restarts nothing.
    let same = app(
        "1.1.0",
        r#""web": {"image": "localhost:5000/web:1", "update_strategy": "kill-then-download"}"#,
    );
    check(&converged(&old), &same, &synced(), "");
}

/// The current state of `t` with `block`'s container created but not started.
fn created(t: &TargetState, block: &str) -> CurrentState {
    let mut current = converged(t);
    set_status(&mut current, block, ContainerStatus::Created);
    current
}

#[test]
fn dependency_conditions() {
    let t = app(
        "1.0.0",
        r#""db": {"image": "db", "healthcheck": {"test": {"cmd": ["true"]}}},
           "cache": {"image": "cache"},
           "migrate": {"image": "migrate", "restart": "no"},
           "web": {"image": "web", "depends_on": {"cache": "started", "db": "healthy", "migrate": "completed"}}"#,
    );
    let running = |health| ContainerStatus::Running { health };
    let table: &[(&str, ContainerStatus, &str)] = &[
        (
            "cache",
            ContainerStatus::Created,
            "wait main/web: cache not started",
        ),
        (
            "cache",
            ContainerStatus::Exited { code: 0 },
            "start main/web@1.0.0",
        ),
        (
            "db",
            running(Health::Starting),
            "wait main/web: db not healthy",
        ),
        (
            "db",
            running(Health::Unhealthy),
            "wait main/web: db not healthy",
        ),
        (
            "db",
            running(Health::NoCheck),
            "wait main/web: db has no healthcheck",
        ),
        (
            "db",
            ContainerStatus::Exited { code: 0 },
            "wait main/web: db not healthy",
        ),
        (
            "migrate",
            running(Health::NoCheck),
            "wait main/web: migrate not completed",
        ),
        (
            "migrate",
            ContainerStatus::Exited { code: 2 },
            "wait main/web: migrate exited with code 2",
        ),
        (
            "migrate",
            ContainerStatus::Exited { code: 0 },
            "start main/web@1.0.0",
        ),
    ];
    for (dependency, status, expect) in table {
        let mut current = created(&t, "main/web");
        // Everything else satisfied: migrate completed, the others up.
        set_status(
            &mut current,
            "main/migrate",
            ContainerStatus::Exited { code: 0 },
        );
        set_status(&mut current, &format!("main/{dependency}"), *status);
        let mut expect = (*expect).to_owned();
        // A created or stopped dependency gets its own start step first.
        let restartable = *dependency != "migrate";
        if restartable
            && matches!(
                status,
                ContainerStatus::Created | ContainerStatus::Exited { .. }
            )
        {
            expect = format!("start main/{dependency}@1.0.0\n{expect}");
        }
        check(&current, &t, &synced(), &expect);
    }

    // A dependency that has no container of the current definition yet.
    let mut current = created(&t, "main/web");
    set_status(
        &mut current,
        "main/migrate",
        ContainerStatus::Exited { code: 0 },
    );
    current
        .containers
        .retain(|c| c.block_id() != Some(id("main/db")));
    check(
        &current,
        &t,
        &synced(),
        "
        create main/db@1.0.0
        wait main/web: db not healthy
        ",
    );
}

#[test]
fn time_gating() {
    let t = app(
        "1.0.0",
        r#""certs": {"image": "certs", "time": "synced"}, "log": {"image": "log", "time": "coarse"}"#,
    );
    let mut current = created(&t, "main/certs");
    set_status(&mut current, "main/log", ContainerStatus::Created);
    let at = |time| Conditions {
        time,
        ..Conditions::default()
    };
    check(
        &current,
        &t,
        &at(TimeStatus::Unsynced),
        "
        wait main/certs: needs synced time, clock is unsynced
        wait main/log: needs coarse time, clock is unsynced
        ",
    );
    check(
        &current,
        &t,
        &at(TimeStatus::Coarse),
        "
        wait main/certs: needs synced time, clock is coarse
        start main/log@1.0.0
        ",
    );
    check(
        &current,
        &t,
        &at(TimeStatus::Synced),
        "
        start main/certs@1.0.0
        start main/log@1.0.0
        ",
    );
    // A block already running is never stopped for the clock.
    check(&converged(&t), &t, &at(TimeStatus::Unsynced), "");
}

#[test]
fn removed_block() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    let new = app("1.1.0", DB);
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        lock main/web
        stop main/web@1.0.0
        remove main/web@1.0.0
        unlock main/web; remove image localhost:5000/web:1
        converged
        ",
    );
}

#[test]
fn volumes_are_kept_while_the_target_uses_them() {
    // web also mounts `data`; removing web leaves `data` to db.
    let both = app(
        "1.0.0",
        &format!(
            r#"{DB}, "web": {{"image": "web", "volumes": [{{"type": "volume", "source": "data", "target": "/srv"}}]}}"#
        ),
    );
    let mut current = converged(&both);
    set_status(
        &mut current,
        "main/web",
        ContainerStatus::Exited { code: 0 },
    );
    // web goes; `data` stays for db; web's image stays until web's
    // container is gone.
    check(
        &current,
        &app("1.1.0", DB),
        &synced(),
        "remove main/web@1.0.0",
    );

    // An app that drops the volume: it goes once no container mounts it.
    let without = target(
        r#"{"version": 1, "apps": {"main": {"class": "app",
            "release": {"version": "2.0.0", "blocks": {"db": {"image": "localhost:5000/db:1"}}}}}}"#,
    );
    converge(
        &mut converged(&app("1.0.0", DB)),
        &without,
        &synced(),
        "
        create main/db@2.0.0
        lock main/db
        stop main/db@1.0.0
        remove main/db@1.0.0; start main/db@2.0.0
        unlock main/db; remove volume main/data
        converged
        ",
    );
}

#[test]
fn orphans_are_cleaned_up() {
    let t = app("1.0.0", r#""web": {"image": "web"}"#);
    let gone = target(
        r#"{"version": 1, "apps": {"old": {"class": "app",
            "release": {"version": "0.9.0", "blocks": {"x": {"image": "x:1", "networks": ["lan"]}}},
            "volumes": {"cache": {}}, "networks": {"lan": {}}}}}"#,
    );
    let mut current = converged(&t);
    let leftovers = converged(&gone);
    current.containers.extend(leftovers.containers);
    current.images.extend(leftovers.images);
    current.volumes.extend(leftovers.volumes);
    current.networks.extend(leftovers.networks);
    // Strays: labelled as the runtime's, but unreadable.
    for (name, status) in [
        (
            "deadbeef0001",
            ContainerStatus::Running {
                health: Health::NoCheck,
            },
        ),
        ("deadbeef0002", ContainerStatus::Exited { code: 1 }),
    ] {
        current.containers.push(Container {
            id: ContainerId(name.to_owned()),
            owner: None,
            image: ImageId("sha256:elsewhere".to_owned()),
            status,
            volumes: Vec::new(),
            networks: Vec::new(),
        });
    }
    check(
        &current,
        &t,
        &synced(),
        "
        lock old/x
        stop container deadbeef0001
        remove container deadbeef0002
        remove volume old/cache
        ",
    );
    converge(
        &mut current,
        &t,
        &synced(),
        "
        lock old/x; stop container deadbeef0001; remove container deadbeef0002; remove volume old/cache
        stop old/x@0.9.0; remove container deadbeef0001
        remove old/x@0.9.0
        unlock old/x; remove network old/lan; remove image x:1
        converged
        ",
    );
}

#[test]
fn update_lock_held_by_the_block() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    let new = db_web("2.0.0", "localhost:5000/web:2", r#""download-then-kill""#);
    let locked = Conditions {
        time: TimeStatus::Synced,
        locked_by_blocks: BTreeSet::from([id("main/web")]),
        ..Conditions::default()
    };
    // Fetching interrupts nothing, so it goes ahead...
    check(
        &converged(&old),
        &new,
        &locked,
        "fetch localhost:5000/web:2",
    );
    // ...and so does creating the new container...
    let mut current = converged(&old);
    let web2 = ImageRef::parse("localhost:5000/web:2").unwrap_or_else(|e| panic!("{e}"));
    current.images.push(Image {
        id: image_id(&web2),
        references: vec![web2],
        class_labels: BTreeMap::new(),
    });
    check(&current, &new, &locked, "create main/web@2.0.0");
    // ...but the block is not stopped while it holds its lock.
    let create = plan(&current, &new, &locked).remove(0);
    apply(&mut current, &new, &create);
    check(
        &current,
        &new,
        &locked,
        "wait main/web: update lock held by the block",
    );
    // Nor removed from the target.
    check(
        &converged(&old),
        &app("1.1.0", DB),
        &locked,
        "wait main/web: update lock held by the block",
    );
    // Once the runtime holds the lock, the block is stopped.
    current.locks.insert(id("main/web"));
    check(&current, &new, &synced(), "stop main/web@1.0.0");
}

#[test]
fn restart_policies_and_dead_containers() {
    let t = app(
        "1.0.0",
        r#""always": {"image": "a"}, "once": {"image": "o", "restart": "no"}, "retry": {"image": "r", "restart": "on-failure"}"#,
    );
    let mut current = converged(&t);
    for block in ["main/always", "main/once", "main/retry"] {
        set_status(&mut current, block, ContainerStatus::Exited { code: 1 });
    }
    // `always` is brought back; the others were decided by the engine.
    check(&current, &t, &synced(), "start main/always@1.0.0");

    set_status(&mut current, "main/always", ContainerStatus::Dead);
    check(&current, &t, &synced(), "remove main/always@1.0.0");
}

#[test]
fn duplicate_containers_of_one_block() {
    let t = app("1.0.0", r#""web": {"image": "web"}"#);
    let mut current = converged(&t);
    let mut extra = current.containers[0].clone();
    extra.id = ContainerId("extra0000000".to_owned());
    extra.status = ContainerStatus::Created;
    current.containers.push(extra);
    check(&current, &t, &synced(), "remove main/web@1.0.0");
}

#[test]
fn the_new_container_is_created_before_the_old_one_stops() {
    // (strategy, new image on the device already, the first batches)
    let table = [
        (
            r#""download-then-kill""#,
            false,
            "fetch localhost:5000/web:2\ncreate main/web@2.0.0\nlock main/web",
        ),
        (
            r#""download-then-kill""#,
            true,
            "create main/web@2.0.0\nlock main/web\nstop main/web@1.0.0",
        ),
        // Kill-then-download fetches only once the old container is gone
        // (no room for both images), so it cannot create first...
        (
            r#""kill-then-download""#,
            false,
            "lock main/web\nstop main/web@1.0.0\nremove main/web@1.0.0",
        ),
        // ...unless the image is on the device already.
        (
            r#""kill-then-download""#,
            true,
            "create main/web@2.0.0\nlock main/web\nstop main/web@1.0.0",
        ),
        (
            r#"{"hand-over": {"timeout": "5s"}}"#,
            true,
            "create main/web@2.0.0\nstart main/web@2.0.0\nlock main/web",
        ),
    ];
    for (strategy, present, expect) in table {
        let old = db_web("1.0.0", "localhost:5000/web:1", strategy);
        let new = db_web("2.0.0", "localhost:5000/web:2", strategy);
        let mut current = converged(&old);
        if present {
            let web2 = ImageRef::parse("localhost:5000/web:2").unwrap_or_else(|e| panic!("{e}"));
            current.images.push(Image {
                id: image_id(&web2),
                references: vec![web2],
                class_labels: BTreeMap::new(),
            });
        }
        let mut batches = Vec::new();
        for _ in 0..3 {
            let steps = plan(&current, &new, &synced());
            batches.push(
                steps
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            for step in &steps {
                apply(&mut current, &new, step);
            }
        }
        assert_eq!(
            batches.join("\n"),
            expect,
            "{strategy}, image present: {present}"
        );
    }
}

#[test]
fn a_create_the_engine_refuses_leaves_the_old_container_running() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    let new = db_web("2.0.0", "localhost:5000/web:2", r#""download-then-kill""#);
    let mut current = converged(&old);
    let web2 = ImageRef::parse("localhost:5000/web:2").unwrap_or_else(|e| panic!("{e}"));
    current.images.push(Image {
        id: image_id(&web2),
        references: vec![web2],
        class_labels: BTreeMap::new(),
    });
    // The engine refuses the create, so nothing changes: the plan is the
    // same create again, and nothing of the running block is touched.
    for _ in 0..3 {
        check(&current, &new, &synced(), "create main/web@2.0.0");
    }
    assert!(current.containers.iter().all(|c| c.status.is_live()));
}

/// db and web, web on `back`, with `back` configured as `network` (the
/// inside of a JSON object) at `version`.
fn on_back(version: &str, network: &str) -> TargetState {
    target(&format!(
        r#"{{"version": 1, "apps": {{"main": {{"class": "app",
            "release": {{"version": "{version}", "blocks": {{
                "db": {{"image": "db"}},
                "web": {{"image": "web", "networks": ["back"]}},
                "side": {{"image": "side", "network_mode": "service:web"}}}}}},
            "networks": {{"back": {{{network}}}}}}}}}}}"#
    ))
}

#[test]
fn a_network_whose_settings_change_is_recreated() {
    let old = on_back("1.0.0", r#""internal": true"#);
    for changed in [
        r#""internal": false"#,
        r#""internal": true, "labels": {"tier": "back"}"#,
        r#""internal": true, "driver_opts": {"com.docker.network.bridge.enable_icc": "false"}"#,
    ] {
        let new = on_back("1.0.0", changed);
        // web is on it and side in web's namespace: both go, while db
        // (on `default` only) runs on; once the network is back, web is
        // created as it was, then side in the new web's namespace.
        converge(
            &mut converged(&old),
            &new,
            &synced(),
            "
            lock main/side; lock main/web
            stop main/side@1.0.0; stop main/web@1.0.0
            remove main/side@1.0.0; remove main/web@1.0.0
            unlock main/side; unlock main/web; remove network main/back to recreate it (settings changed)
            create network main/back
            create main/web@1.0.0
            create main/side@1.0.0; start main/web@1.0.0
            start main/side@1.0.0
            converged
            ",
        );
    }
    // A network of an older runtime has no hash label: it is taken to
    // match, and nothing is recreated on upgrade.
    let mut current = converged(&old);
    for n in &mut current.networks {
        n.config_hash = None;
    }
    check(
        &current,
        &on_back("1.0.0", r#""internal": false"#),
        &synced(),
        "",
    );
}

/// One block, db, mounting `data`, configured as `volume`.
fn with_data(volume: &str) -> TargetState {
    target(&format!(
        r#"{{"version": 1, "apps": {{"main": {{"class": "app",
            "release": {{"version": "1.0.0", "blocks": {{{DB}}}}},
            "volumes": {{"data": {{{volume}}}}}}}}}}}"#
    ))
}

#[test]
fn a_volume_whose_driver_settings_change_is_recreated() {
    let old = with_data(r#""driver_opts": {"type": "tmpfs", "device": "tmpfs"}"#);
    let new = with_data(r#""driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}"#);
    converge(
        &mut converged(&old),
        &new,
        &synced(),
        "
        lock main/db
        stop main/db@1.0.0
        remove main/db@1.0.0
        unlock main/db; remove volume main/data to recreate it (driver or driver_opts changed: its data is lost)
        create volume main/data
        create main/db@1.0.0
        start main/db@1.0.0
        converged
        ",
    );
    assert_eq!(notices(&converged(&old), &new), Vec::new());

    // Labels alone: the engine cannot relabel a volume, and they are no
    // reason to lose its data. Nothing is done; the executor reports it.
    let relabelled = with_data(
        r#""driver_opts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"backup": "daily"}"#,
    );
    check(&converged(&old), &relabelled, &synced(), "");
    let said: Vec<String> = notices(&converged(&old), &relabelled)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        said,
        [
            "volume main/data keeps its labels: the target's differ, but the engine cannot \
          relabel a volume and recreating it would lose its data"
        ]
    );
    assert_eq!(notices(&converged(&relabelled), &relabelled), Vec::new());

    // A volume of an older runtime has no hash label: it is taken to match.
    let mut current = converged(&old);
    for v in &mut current.volumes {
        v.config_hash = None;
    }
    check(&current, &new, &synced(), "");
}

#[test]
fn a_block_joining_anothers_namespaces_is_created_once_that_ones_container_exists() {
    // The engine looks the container of a `service:` process or IPC
    // namespace up when it creates the joining one.
    let t = app(
        "1.0.0",
        r#""vpn": {"image": "vpn"},
           "web": {"image": "web", "network_mode": "service:vpn", "pid": "service:vpn"}"#,
    );
    converge(
        &mut CurrentState::default(),
        &t,
        &synced(),
        "
        create volume main/data; create network main/default; fetch vpn; fetch web
        create main/vpn@1.0.0
        start main/vpn@1.0.0; create main/web@1.0.0
        start main/web@1.0.0
        converged
        ",
    );
}

#[test]
fn a_held_app_is_left_as_it_runs() {
    let old = db_web("1.0.0", "localhost:5000/web:1", r#""download-then-kill""#);
    let new = db_web("2.0.0", "localhost:5000/web:2", r#""download-then-kill""#);
    let held = Conditions {
        held_apps: BTreeSet::from([AppName::new("main").unwrap_or_else(|e| panic!("{e}"))]),
        ..synced()
    };
    // Its new release is neither fetched nor created, its old containers,
    // volume, network and images stay.
    check(&converged(&old), &new, &held, "");
    // Not even removed from the target: a rejected release is no
    // instruction to take down what runs.
    let nothing = target(r#"{"version": 1, "apps": {}}"#);
    check(&converged(&old), &nothing, &held, "");
    // Another app goes on beside it.
    let mut both = new.clone();
    let other = target(
        r#"{"version": 1, "apps": {"logs": {"class": "system", "release": {"version": "1.0.0",
            "blocks": {"agent": {"image": "localhost:5000/agent:1"}}}}}}"#,
    );
    both.apps.extend(other.apps);
    check(
        &converged(&old),
        &both,
        &held,
        "
        create network logs/default
        fetch localhost:5000/agent:1
        ",
    );
}

// --- the OS's own blocks ----------------------------------------------------

/// An `os` app at 2.0.0 with `blocks`.
fn os(blocks: &str) -> TargetState {
    target(&format!(
        r#"{{"version": 1, "apps": {{"os": {{"class": "os",
            "release": {{"version": "2.0.0", "blocks": {{{blocks}}}}}}}}}}}"#
    ))
}

const HOST: &str = r#""host": {"image": "os/host:2", "kind": "hostapp"}"#;
const MODULES: &str = r#""modules": {"image": "os/modules:2", "kind": "overlay",
    "overlay": {"kernel_version": "5.10.104"}}"#;
const AGENT: &str = r#""agent": {"image": "os/agent:2"}"#;

#[test]
fn overlays_and_the_hostapp_are_installed_never_run() {
    let t = os(&format!("{HOST}, {MODULES}, {AGENT}"));
    let mut current = CurrentState::default();
    converge(
        &mut current,
        &t,
        &Conditions::default(),
        "
        create network os/default; fetch os/agent:2; fetch os/host:2; fetch os/modules:2
        create os/agent@2.0.0; install hostapp os/host from os/host:2 into the inactive slot; install overlay os/modules from os/modules:2
        start os/agent@2.0.0
        converged
        ",
    );
    assert_eq!(current.containers.len(), 1, "{:?}", current.containers);
    // Installed once: the booted or the staged slot holding the image is
    // enough, and so is the extension of this image for this block.
    let host_image = image_id(&ImageRef::parse("os/host:2").unwrap());
    current.host = crate::current::HostSlots {
        booted: Some(host_image),
        staged: None,
    };
    assert_eq!(plan(&current, &t, &Conditions::default()), vec![]);
}

/// `current` with the image `reference` fetched, carrying `labels`.
fn fetched_with(current: &mut CurrentState, reference: &str, labels: &[(&str, &str)]) {
    let image = ImageRef::parse(reference).unwrap();
    current.images.push(Image {
        id: image_id(&image),
        references: vec![image],
        class_labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    });
}

#[test]
fn an_images_class_label_makes_an_os_block_an_overlay() {
    let labels = [
        (crate::kind::BALENA_IMAGE_CLASS, "overlay"),
        (crate::kind::IMAGE_KERNEL_VERSION, "6.1.0"),
        (crate::kind::IMAGE_OVERRIDE_PRIORITY, "7"),
        (crate::kind::IMAGE_REQUIRES_REBOOT, "1"),
    ];
    let mut current = CurrentState::default();
    fetched_with(&mut current, "os/firmware:2", &labels);
    let t = os(r#""firmware": {"image": "os/firmware:2", "overlay": {"override_priority": 3}}"#);
    let steps = plan(&current, &t, &Conditions::default());
    let installs: Vec<&Step> = steps
        .iter()
        .filter(|s| !matches!(s, Step::CreateNetwork { .. }))
        .collect();
    let [
        Step::InstallOverlay {
            settings,
            requires_reboot,
            ..
        },
    ] = &installs[..]
    else {
        panic!("{steps:?}");
    };
    // The target's priority wins; the kernel comes from the label.
    assert_eq!(settings.override_priority, Some(3));
    assert_eq!(settings.kernel_version.as_ref().unwrap().as_str(), "6.1.0");
    assert!(requires_reboot);

    // Outside an `os` app the label is no licence: the block is a container.
    let user = app("1.0.0", r#""firmware": {"image": "os/firmware:2"}"#);
    converge(
        &mut current.clone(),
        &user,
        &Conditions::default(),
        "
        create volume main/data; create network main/default
        create main/firmware@1.0.0
        start main/firmware@1.0.0
        converged
        ",
    );

    // A class label that does not read holds the block, naming the label.
    let mut current = CurrentState::default();
    fetched_with(
        &mut current,
        "os/firmware:2",
        &[(crate::kind::IMAGE_CLASS, "kernel")],
    );
    let lines: Vec<String> = plan(
        &current,
        &os(r#""firmware": {"image": "os/firmware:2"}"#),
        &Conditions::default(),
    )
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        lines,
        vec![
            "create network os/default",
            "wait os/firmware: image label io.osb.image.class='kernel': not one of service, overlay, hostapp"
        ]
    );
}

#[test]
fn a_service_that_becomes_an_overlay_loses_its_container() {
    let before = os(r#""modules": {"image": "os/modules:1"}"#);
    let mut current = converged(&before);
    let after = os(r#""modules": {"image": "os/modules:1", "kind": "overlay"}"#);
    converge(
        &mut current,
        &after,
        &Conditions::default(),
        "
        install overlay os/modules from os/modules:1; lock os/modules
        stop os/modules@2.0.0
        remove os/modules@2.0.0
        unlock os/modules; remove network os/default
        converged
        ",
    );
}
