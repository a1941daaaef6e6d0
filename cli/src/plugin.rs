//! `osb plugin ...`

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use super::grant_flag;
use osb_plugin_host::host_api::device::DeviceTable;
use osb_plugin_host::{Package, PluginHost, PluginSettings, Provenance, PublicKey, SecretKey};
use osb_runtime::config::DeviceConfig;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create an ed25519 signing key pair for plugin packages.
    ///
    /// Writes KEY_DIR/osb-signing.key (secret, mode 0600: keep it off the
    /// device) and KEY_DIR/osb-signing.pub, and prints the public key to put
    /// in the device config's `trusted_keys`.
    Keygen {
        /// Where to write the key pair.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Sign a package directory (plugin.toml + NAME.wasm), writing NAME.wasm.sig.
    Sign {
        /// The package directory.
        dir: PathBuf,
        /// The secret key file from `osb plugin keygen`.
        #[arg(long, env = "OSB_SIGNING_KEY")]
        key: PathBuf,
    },
    /// Check a package's manifest and signature against the trusted keys.
    ///
    /// Trusted keys come from the device config and from --trust. Exits
    /// non-zero, naming the file and the reason, when the package would be
    /// refused.
    Verify {
        dir: PathBuf,
        /// Also trust this public key (ed25519:HEX); repeatable.
        #[arg(long = "trust")]
        trust: Vec<PublicKey>,
        #[arg(long)]
        json: bool,
    },
    /// Show a package: kind, version, API version, requested capabilities,
    /// signature status and the component's exports.
    Inspect {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Load a package and call one of its functions, printing the result as JSON.
    ///
    /// FUNCTION is a name from `osb plugin inspect` (e.g. `sample`,
    /// `self-check`); JSON holds its arguments as an object, e.g.
    /// '{"seconds": 1700000000, "nanoseconds": 0}' for `observe`.
    /// The package must be signed by a trusted key unless in development mode.
    Call(CallArgs),
}

#[derive(Debug, Args)]
pub struct CallArgs {
    dir: PathBuf,
    function: String,
    /// Arguments as a JSON object (default: none).
    json: Option<String>,
    #[arg(long = "grant", value_name = "CAPABILITY", long_help = grant_flag::HELP)]
    grants: Vec<String>,
    /// Set a config key for the plugin (KEY=VALUE); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Keep the compile cache and key-value store here (default: none).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Deadline for the call, in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u32>,
}

pub fn run(cmd: PluginCommand, config: &DeviceConfig) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Keygen { out, json } => keygen(&out, json),
        PluginCommand::Sign { dir, key } => sign(&dir, &key),
        PluginCommand::Verify { dir, trust, json } => verify(&dir, trust, config, json),
        PluginCommand::Inspect { dir, json } => inspect(&dir, config, json),
        PluginCommand::Call(args) => call(args, config),
    }
}

fn keygen(out: &Path, json: bool) -> anyhow::Result<()> {
    let key = SecretKey::generate().context("no randomness for a key")?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create '{}'", out.display()))?;
    let secret_path = out.join("osb-signing.key");
    let public_path = out.join("osb-signing.pub");
    write_secret(&secret_path, &key.to_hex())?;
    std::fs::write(&public_path, format!("{}\n", key.public()))
        .with_context(|| format!("cannot write '{}'", public_path.display()))?;
    if json {
        println!(
            "{}",
            json!({ "public_key": key.public().to_string(), "secret_key_file": secret_path, "public_key_file": public_path })
        );
    } else {
        println!("{}", key.public());
        eprintln!(
            "secret key: {} (keep it off devices)",
            secret_path.display()
        );
    }
    Ok(())
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create '{}' (refusing to overwrite a key)",
                path.display()
            )
        })?;
    writeln!(f, "{text}")?;
    Ok(())
}

fn sign(dir: &Path, key_path: &Path) -> anyhow::Result<()> {
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read key '{}'", key_path.display()))?;
    let key: SecretKey = key_text
        .parse()
        .map_err(|e| anyhow::anyhow!("key '{}': {e}", key_path.display()))?;
    let package = Package::read(dir)?;
    let sig_path = package.signature_path();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(key.sign(&package.digest).as_bytes())?;
    tmp.persist(&sig_path)
        .with_context(|| format!("cannot write '{}'", sig_path.display()))?;
    eprintln!(
        "signed {} {} with {}",
        package.manifest.name,
        package.manifest.version,
        key.public()
    );
    Ok(())
}

fn verify(
    dir: &Path,
    extra: Vec<PublicKey>,
    config: &DeviceConfig,
    json: bool,
) -> anyhow::Result<()> {
    let package = Package::read(dir)?;
    let mut policy = config.host_settings().trust;
    policy.trusted_keys.extend(extra);
    // `verify` answers "would production accept this?": never development.
    policy.development = false;
    let result = package.check_trust(&policy);
    let (ok, detail) = match &result {
        Ok(Provenance::Signed(k)) => (true, format!("signed by {k}")),
        Ok(Provenance::Unsigned { reason }) => (false, reason.clone()),
        Err(e) => (false, e.to_string()),
    };
    if json {
        println!(
            "{}",
            json!({ "name": package.manifest.name, "version": package.manifest.version.to_string(), "ok": ok, "detail": detail })
        );
    } else {
        println!(
            "{} {}: {detail}",
            package.manifest.name, package.manifest.version
        );
    }
    if !ok {
        bail!("{detail}");
    }
    Ok(())
}

fn inspect(dir: &Path, config: &DeviceConfig, json: bool) -> anyhow::Result<()> {
    let package = Package::read(dir)?;
    let trust = match package.check_trust(&config.host_settings().trust) {
        Ok(Provenance::Signed(k)) => format!("signed by trusted key {k}"),
        Ok(Provenance::Unsigned { reason }) => {
            format!("accepted in development mode only: {reason}")
        }
        Err(e) => format!("refused: {e}"),
    };
    let exports = osb_plugin_host::host::component_exports(&package.component).map_err(|e| {
        anyhow::anyhow!(
            "'{}' is not a valid component: {e:#}",
            package.component_path().display()
        )
    })?;
    let m = &package.manifest;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "name": m.name, "version": m.version.to_string(), "kind": m.kind, "api": m.api.to_string(),
                "description": m.description, "capabilities": m.capabilities, "config": m.config,
                "functions": m.kind.functions(), "exports": exports, "trust": trust,
                "component_sha256": package.digest.component_hex(), "component_bytes": package.component.len(),
            }))?
        );
        return Ok(());
    }
    println!("name:         {}", m.name);
    println!("version:      {}", m.version);
    println!("kind:         {}", m.kind);
    println!("api:          osb:plugin@{}", m.api);
    if !m.description.is_empty() {
        println!("description:  {}", m.description);
    }
    println!("trust:        {trust}");
    println!(
        "component:    {} bytes, sha256 {}",
        package.component.len(),
        package.digest.component_hex()
    );
    println!("functions:    {}", m.kind.functions().join(", "));
    println!("exports:      {}", exports.join(", "));
    let caps = toml::to_string(&m.capabilities)?;
    println!(
        "capabilities: {}",
        if caps.trim().is_empty() { "none" } else { "" }
    );
    for line in caps.lines() {
        println!("  {line}");
    }
    Ok(())
}

fn call(args: CallArgs, config: &DeviceConfig) -> anyhow::Result<()> {
    let package = Package::read(&args.dir)?;
    let name = package.manifest.name.clone();
    let mut plugin_settings = PluginSettings::default();
    let mut devices = DeviceTable::default();
    for flag in &args.grants {
        if let Some((device, endpoint)) =
            grant_flag::apply(flag, &mut plugin_settings.grants).map_err(anyhow::Error::msg)?
        {
            devices.0.insert(device, endpoint);
        }
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        plugin_settings.config.insert(k.to_owned(), v.to_owned());
    }
    plugin_settings.limits.call_timeout_ms = args.timeout_ms;
    if plugin_settings.grants.kv && args.state_dir.is_none() {
        bail!("--grant kv needs --state-dir, where the key-value store lives");
    }
    let mut settings = config.host_settings();
    settings.plugins.clear();
    settings.plugins.insert(name.clone(), plugin_settings);
    settings.state_dir = args.state_dir.clone();
    settings.devices = devices;
    let host = PluginHost::new(settings)?;
    host.load(&args.dir)?;
    let json_args: serde_json::Value = match &args.json {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text).context("the JSON argument is not valid JSON")?,
    };
    let result = host.call_json(&name, &args.function, &json_args)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    if result.get("error").is_some() {
        bail!("plugin '{name}' returned an error");
    }
    Ok(())
}
