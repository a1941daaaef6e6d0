//! One test's share of the engine: what carries its instance label.

use std::sync::atomic::{AtomicU32, Ordering};

use super::INSTANCE_LABEL;
use super::cli::try_run;
use super::query::{ContainerInfo, containers};

/// A unique runtime instance name for one test, whose engine objects are
/// removed when the scope is created (left over from a killed run of the
/// same process ID) and when it is dropped, passed or failed.
#[derive(Debug)]
pub struct Scope {
    /// The value of the `io.osb.runtime` label of this test's objects.
    pub instance: String,
}

impl Scope {
    /// A scope named `t-<test_name>-<pid>-<counter>`, with `test_name`
    /// folded to lowercase letters, digits and `-`, as engine names and
    /// labels accept anywhere.
    pub fn new(test_name: &str) -> Scope {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let instance = format!(
            "t-{}-{}-{}",
            fold(test_name),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        cleanup(&instance);
        Scope { instance }
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// `io.osb.runtime=<instance>`, for `docker ... --label`.
    pub fn label(&self) -> String {
        format!("{INSTANCE_LABEL}={}", self.instance)
    }

    /// See [`containers`].
    pub fn containers(&self) -> Vec<ContainerInfo> {
        containers(&self.instance)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        cleanup(&self.instance);
    }
}

/// Lowercase ASCII letters and digits, other runs of characters as one
/// `-`, at most 40 characters: `Pull::Big_Image` becomes `pull-big-image`.
fn fold(name: &str) -> String {
    let mut folded = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            folded.push(c.to_ascii_lowercase());
        } else if !folded.is_empty() && !folded.ends_with('-') {
            folded.push('-');
        }
    }
    folded.truncate(40);
    let folded = folded.trim_end_matches('-');
    if folded.is_empty() {
        "test".to_owned()
    } else {
        folded.to_owned()
    }
}

/// Removes every container (with its anonymous volumes), then every volume
/// and network, labelled `io.osb.runtime=<instance>`. Failures are reported
/// on stderr, not raised: this runs in `Drop`, where a panic during a
/// failing test's unwinding would abort the whole test binary.
pub fn cleanup(instance: &str) {
    let filter = format!("label={INSTANCE_LABEL}={instance}");
    let steps: [(&[&str], &[&str]); 3] = [
        (
            &["ps", "-aq", "--no-trunc"],
            &["rm", "--force", "--volumes"],
        ),
        (&["volume", "ls", "-q"], &["volume", "rm", "--force"]),
        (&["network", "ls", "-q"], &["network", "rm"]),
    ];
    for (list, remove) in steps {
        let mut args = list.to_vec();
        args.extend(["--filter", &filter]);
        let listed = match try_run(&args) {
            Ok(listed) => listed,
            Err(e) => {
                eprintln!("cleanup of {instance}: {e}");
                continue;
            }
        };
        let ids: Vec<&str> = listed.split_whitespace().collect();
        if ids.is_empty() {
            continue;
        }
        let mut args = remove.to_vec();
        args.extend(ids);
        if let Err(e) = try_run(&args) {
            eprintln!("cleanup of {instance}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_test_names_to_engine_safe_names() {
        assert_eq!(fold("Pull::Big_Image"), "pull-big-image");
        assert_eq!(fold("--x--"), "x");
        assert_eq!(fold("été"), "t");
        assert_eq!(fold("!!!"), "test");
        assert_eq!(fold(&"a".repeat(60)).len(), 40);
    }
}
