use super::*;

/// A TX2 running balenaOS 5.1.0 and `main/db` 1.0.0.
fn device() -> Contract {
    Contract::from_json_str(
        r#"{"type": "meta.context", "slug": "device", "children": [
            {"type": "hw.device-type", "slug": "jetson-tx2", "data": {"arch": "aarch64"}},
            {"type": "arch.sw", "slug": "aarch64"},
            {"type": "sw.os", "slug": "balena-os", "version": "5.1.0"},
            {"type": "sw.block", "slug": "main/db", "version": "1.0.0"}
        ]}"#,
    )
    .unwrap()
}

/// A target of one app `main` at 2.0.0 with `release` fields and `blocks`.
fn target(release: &str, blocks: &str) -> TargetState {
    TargetState::from_json(&format!(
        r#"{{"version": 1, "apps": {{"main": {{"class": "app", "release": {{
            "version": "2.0.0", {release} "blocks": {{{blocks}}}}}}}}}}}"#
    ))
    .unwrap()
}

/// The gate's verdicts, one a line: `rejected main: ...`, `left out ...`,
/// then the blocks of the target to plan with.
fn verdict(gate: &Gate) -> String {
    let (rejected, left_out) = gate.lines();
    let mut out: Vec<String> = rejected
        .into_iter()
        .map(|l| format!("rejected {l}"))
        .collect();
    out.extend(left_out);
    let blocks: Vec<String> = gate
        .target
        .apps
        .iter()
        .flat_map(|(a, app)| app.release.blocks.keys().map(move |b| format!("{a}/{b}")))
        .collect();
    out.push(format!("plan: {}", blocks.join(" ")));
    out.join("\n")
}

#[test]
fn releases_and_blocks_are_gated_by_the_device_contract() {
    let arch = |slug: &str| format!(r#"{{"type": "arch.sw", "slug": "{slug}"}}"#);
    let table: Vec<(&str, String, String, &str)> = vec![
        ("no requirements", String::new(), r#""web": {"image": "web:2"}"#.into(), "plan: main/web"),
        (
            "the release's requirement holds",
            format!(r#""requires": [{}],"#, arch("aarch64")),
            r#""web": {"image": "web:2"}"#.into(),
            "plan: main/web",
        ),
        (
            "the release's requirement fails: all of it is rejected",
            format!(r#""requires": [{}],"#, arch("amd64")),
            r#""web": {"image": "web:2"}"#.into(),
            "rejected main: release 2.0.0 rejected: apps.main.release.requires[0]: arch.sw amd64: no arch.sw amd64 among: aarch64\nplan: main/web",
        ),
        (
            "an OS version range",
            r#""requires": [{"type": "sw.os", "slug": "balena-os", "version": ">=5 <6"}],"#.into(),
            r#""web": {"image": "web:2"}"#.into(),
            "plan: main/web",
        ),
        (
            "another block's version",
            String::new(),
            r#""web": {"image": "web:2", "requires": [{"type": "sw.block", "slug": "main/db", "version": "^2"}]}"#.into(),
            "rejected main: release 2.0.0 rejected: apps.main.release.blocks.web.requires[0]: sw.block main/db version \"^2\": no sw.block main/db version \"^2\" among: main/db@1.0.0\nplan: main/web",
        ),
        (
            "an optional block that cannot run is left out",
            String::new(),
            format!(
                r#""web": {{"image": "web:2"}}, "gpu": {{"image": "gpu:2", "optional": true, "requires": [{}]}}"#,
                arch("amd64")
            ),
            "main/gpu left out: apps.main.release.blocks.gpu.requires[0]: arch.sw amd64: no arch.sw amd64 among: aarch64\nplan: main/web",
        ),
        (
            "one another needs is not",
            String::new(),
            format!(
                r#""web": {{"image": "web:2", "depends_on": {{"gpu": "started"}}}}, "gpu": {{"image": "gpu:2", "optional": true, "requires": [{}]}}"#,
                arch("amd64")
            ),
            "rejected main: release 2.0.0 rejected: apps.main.release.blocks.web: needs 'gpu', which is optional and left out (its requirements do not hold)\nplan: main/gpu main/web",
        ),
    ];
    for (what, release, blocks, expect) in table {
        let gate = gate(&target(&release, &blocks), &device());
        assert_eq!(verdict(&gate), expect, "{what}");
    }
}

#[test]
fn a_rejected_app_is_held_and_the_others_go_on() {
    let t = TargetState::from_json(
        r#"{"version": 1, "apps": {
            "main": {"class": "app", "release": {"version": "2.0.0",
                "requires": [{"type": "hw.device-type", "slug": "raspberrypi4-64"}],
                "blocks": {"web": {"image": "web:2"}}}},
            "logs": {"class": "system", "release": {"version": "1.0.0",
                "blocks": {"agent": {"image": "agent:1"}}}}}}"#,
    )
    .unwrap();
    let gate = gate(&t, &device());
    assert_eq!(
        gate.held_apps(),
        BTreeSet::from([AppName::new("main").unwrap()])
    );
    assert!(gate.left_out.is_empty());
    assert_eq!(gate.target, t, "nothing is taken out of a held app");
}

#[test]
fn requirements_the_contract_module_cannot_read_are_refused_with_the_target() {
    let table = [
        (
            r#""requires": [{"type": "sw.os", "version": ">=x.y"}],"#,
            r#""web": {"image": "web:2"}"#,
            "apps.main.release.requires[0].version",
        ),
        (
            "",
            r#""web": {"image": "web:2", "requires": [{"slug": "x"}]}"#,
            "apps.main.release.blocks.web.requires[0]: a requirement needs `type` (a matcher), `or` or `not`",
        ),
        (
            "",
            r#""web": {"image": "web:2", "requires": [{"type": "sw.os", "sluggish": "x"}]}"#,
            "apps.main.release.blocks.web.requires[0]",
        ),
    ];
    for (release, blocks, expect) in table {
        let text = format!(
            r#"{{"version": 1, "apps": {{"main": {{"class": "app", "release": {{
                "version": "2.0.0", {release} "blocks": {{{blocks}}}}}}}}}}}"#
        );
        let e = TargetState::from_json(&text).unwrap_err().to_string();
        assert!(e.contains(expect), "expected {expect:?} in: {e}");
    }
}

#[test]
fn a_draft_runs_only_where_drafts_are_allowed() {
    let draft = target(r#""status": "draft","#, r#""web": {"image": "web:2"}"#);
    let refused = gate(&draft, &device());
    assert_eq!(
        verdict(&refused),
        "rejected main: release 2.0.0 rejected: apps.main.release.status: a draft: drafts run \
         only on a device in development mode, or where a policy holding the `drafts` grant \
         allows them (a final release runs anywhere its contract holds)\nplan: main/web"
    );
    let allowed = gate_under(&draft, &device(), Rules { drafts: true });
    assert_eq!(verdict(&allowed), "plan: main/web");
}
