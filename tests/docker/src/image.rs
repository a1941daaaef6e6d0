//! Local test images, FROM scratch with the host's static busybox: no image
//! registry is reachable from CI, so there is no base image to pull.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Where the images get their busybox (Debian's busybox-static).
const BUSYBOX: &str = "/usr/bin/busybox";

/// Ends on SIGTERM at once: as PID 1, a bare `sleep` would ignore it and
/// every stop would wait out the engine's kill timeout.
const IDLE: &str = r#"["sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"]"#;

/// `osb-test/busybox:<tag>`, built on first use: a shell, the busybox
/// applets in `/bin`, `/etc/osb-test-tag` holding the tag, and a command
/// that idles until stopped. Each tag is its own image with its own top
/// layer, so `busybox_image("1")` and `busybox_image("2")` are two versions
/// of one image, and pulling the second really pulls something.
pub fn busybox_image(tag: &str) -> String {
    check_tag(tag);
    let image = format!("osb-test/busybox:{tag}");
    build_once(&image, &dockerfile(tag, ""));
    image
}

/// `osb-test/big:<tag>-<megabytes>mb`, built on first use: a
/// [`busybox_image`] with an extra layer of `megabytes` MiB of random data
/// (`/payload`), which compresses to no less, for tests that watch a pull's
/// progress or cut it short. The payload layer sits above the tag's, so two
/// tags share no payload.
pub fn big_image(tag: &str, megabytes: u32) -> String {
    check_tag(tag);
    let image = format!("osb-test/big:{tag}-{megabytes}mb");
    let bytes = u64::from(megabytes) * 1024 * 1024;
    let payload =
        format!(r#"RUN ["/bin/busybox", "sh", "-c", "head -c {bytes} /dev/urandom > /payload"]"#);
    build_once(&image, &dockerfile(tag, &payload));
    image
}

fn dockerfile(tag: &str, extra: &str) -> String {
    // `tag` is checked: it cannot break out of the quotes.
    format!(
        r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "sh", "-c", "echo {tag} > /etc/osb-test-tag"]
{extra}
LABEL osb-test.tag="{tag}"
CMD {IDLE}
"#
    )
}

/// Docker's rule for tags, so that a bad one fails here and not in a build.
fn check_tag(tag: &str) {
    let valid = !tag.is_empty()
        && tag.len() <= 100
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    assert!(valid, "invalid test image tag '{tag}'");
}

/// Builds `image` unless this process already did. Builds are serialised
/// within the process by the mutex, and across test binaries by a lock
/// file: the first build of an image fills the engine's build cache, and
/// every later one reuses it and yields the same image ID, whereas two
/// concurrent first builds would yield two IDs and the tag would flip from
/// one to the other under a running test.
fn build_once(image: &str, dockerfile: &str) {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    // A test that panicked while building leaves the set as it was.
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if built.contains(image) {
        return;
    }
    let lock_path = std::env::temp_dir().join("osb-test-docker-build.lock");
    let lock =
        File::create(&lock_path).unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    build(image, dockerfile);
    built.insert(image.to_owned());
}

fn build(image: &str, dockerfile: &str) {
    let context = tempfile::Builder::new()
        .prefix("osb-test-image-")
        .tempdir()
        .expect("create a build context directory");
    let busybox = Path::new(BUSYBOX);
    assert!(
        busybox.is_file(),
        "test images need a static busybox at {BUSYBOX}: scripts/services installs busybox-static"
    );
    std::fs::copy(busybox, context.path().join("busybox")).expect("copy busybox into the context");
    std::fs::write(context.path().join("Dockerfile"), dockerfile).expect("write the Dockerfile");
    let output = Command::new("docker")
        .args(["build", "--quiet", "--tag", image])
        .arg(context.path())
        // The legacy builder: these images need nothing BuildKit adds, and it
        // works without the buildx plugin.
        .env("DOCKER_BUILDKIT", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run docker build");
    assert!(
        output.status.success(),
        "building {image} failed ({}); it needs a statically linked busybox at {BUSYBOX} \
         (Debian: busybox-static):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}
