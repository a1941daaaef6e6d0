//! The Docker fixtures themselves: the tests of the runtime's engine side
//! trust them to build, serve and clean up what they say.

use osb_tests::docker::{self, Registry};

#[test]
fn busybox_tags_are_distinct_images_that_run() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let scope = docker.scope("busybox-tags");
    let one = docker.busybox_image("1");
    let two = docker.busybox_image("2");
    let id = |image: &str| docker.run(&["image", "inspect", "--format", "{{.Id}}", image]);
    assert_ne!(id(&one), id(&two));

    let label = scope.label();
    let out = docker.run(&[
        "run",
        "--rm",
        "--label",
        &label,
        &two,
        "cat",
        "/etc/osb-test-tag",
    ]);
    assert_eq!(out, "2");
    let out = docker.run(&["run", "--rm", "--label", &label, &one, "echo", "hi"]);
    assert_eq!(out, "hi");
}

#[test]
fn busybox_idles_until_stopped_then_exits_cleanly() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let scope = docker.scope("busybox-idle");
    let image = docker.busybox_image("1");
    let id = docker.run(&["run", "-d", "--label", &scope.label(), &image]);
    assert_eq!(docker::exec(&id, &["cat", "/etc/osb-test-tag"]), "1");

    // Exit code 0, not 137: the image's command ends on SIGTERM rather than
    // waiting for the engine's SIGKILL.
    docker.run(&["stop", "--time", "5", &id]);
    let containers = scope.containers();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].state, "exited");
    assert_eq!(containers[0].exit_code, 0);
}

#[test]
fn scope_reports_and_removes_its_labelled_objects() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let image = docker.busybox_image("1");
    let scope = docker.scope("scope-cleanup");
    let other = docker.scope("scope-cleanup");
    assert_ne!(scope.instance, other.instance);

    let label = scope.label();
    let volume = format!("{}-data", scope.instance);
    let network = format!("{}-net", scope.instance);
    docker.run(&["volume", "create", "--label", &label, &volume]);
    docker.run(&["network", "create", "--label", &label, &network]);
    let name = format!("{}-c", scope.instance);
    let mount = format!("type=volume,source={volume},target=/data");
    docker.run(&[
        "create",
        "--name",
        &name,
        "--label",
        &label,
        "--label",
        "x=y",
        "--mount",
        &mount,
        "--network",
        &network,
        &image,
    ]);

    let containers = scope.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let container = &containers[0];
    assert_eq!(container.name, name);
    assert_eq!(container.image, image);
    assert_eq!(container.state, "created");
    assert_eq!(container.health, None);
    assert_eq!(container.labels.get("x").map(String::as_str), Some("y"));
    assert_eq!(
        container.labels.get("osb-test.tag").map(String::as_str),
        Some("1")
    );
    assert!(other.containers().is_empty());
    assert_eq!(docker::volumes(&scope.instance), vec![volume.clone()]);
    assert_eq!(docker::networks(&scope.instance), vec![network.clone()]);
    assert!(docker::volume_exists(&volume));

    let instance = scope.instance.clone();
    drop(scope);
    assert!(docker::containers(&instance).is_empty());
    assert!(!docker::volume_exists(&volume));
    assert!(docker::networks(&instance).is_empty());
}

#[test]
fn registry_serves_pushed_images_across_a_restart() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let image = docker.busybox_image("1");
    let mut registry = docker.registry();
    let reference = registry.push(&image, "osb-test/pushed:1");
    assert_eq!(reference, format!("{}/osb-test/pushed:1", registry.addr()));
    assert!(
        !docker::image_exists(&reference),
        "push must leave no local tag behind"
    );

    registry.stop();
    assert!(!registry.is_running());
    assert!(
        docker::try_run(&["pull", &reference]).is_err(),
        "a stopped registry must not serve"
    );

    registry.restart();
    docker.run(&["pull", &reference]);
    assert!(docker::image_exists(&reference));

    let addr = registry.addr();
    drop(registry);
    assert!(
        !docker::image_exists(&reference),
        "dropping the registry must forget its local tags"
    );
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "a dropped registry must not listen"
    );
}

#[test]
fn registry_starts_on_a_chosen_port() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let port = docker::free_port();
    let registry = Registry::start(port);
    assert_eq!(registry.addr(), format!("127.0.0.1:{port}"));
    registry.push(&docker.busybox_image("1"), "osb-test/chosen:1");
    let repository = registry
        .storage()
        .join("docker/registry/v2/repositories/osb-test/chosen");
    assert!(repository.is_dir(), "{} missing", repository.display());
}

#[test]
fn big_image_carries_its_payload() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let image = docker.big_image("1", 4);
    let size: u64 = docker
        .run(&["image", "inspect", "--format", "{{.Size}}", &image])
        .parse()
        .expect("image size is a number");
    let busybox: u64 = docker
        .run(&[
            "image",
            "inspect",
            "--format",
            "{{.Size}}",
            &docker.busybox_image("1"),
        ])
        .parse()
        .expect("image size is a number");
    assert!(
        size >= busybox + 4 * 1024 * 1024,
        "{image}: {size} bytes, busybox alone {busybox}"
    );
}

#[test]
fn registry_on_a_taken_port_fails_rather_than_pass_for_the_other() {
    let Some(docker) = docker::engine() else {
        return;
    };
    let first = docker.registry();
    let kept = first.reference("osb-test/kept:1");
    docker.run(&["tag", &docker.busybox_image("1"), &kept]);

    let second = std::panic::catch_unwind(|| Registry::start(first.port()));
    let message = second
        .err()
        .and_then(|e| e.downcast::<String>().ok())
        .expect("a second registry on the same port must not start");
    assert!(message.contains("exited"), "{message}");
    assert!(
        docker::image_exists(&kept),
        "a registry that never answered must leave the address's images alone"
    );
}
