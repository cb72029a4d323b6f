//! Running the real helm binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error("helm not found ({0}); install helm 4, or point --helm / HELM_BIN at it")]
    NotFound(String),
    #[error("cannot run {bin}: {message}")]
    Spawn { bin: String, message: String },
    /// helm ran and failed; `stderr` is helm's own message.
    #[error("`helm {command}` failed (exit {code}): {stderr}")]
    Failed {
        command: String,
        code: i32,
        stderr: String,
    },
}

impl HelmError {
    /// helm ran and exited non-zero: its exit code and its own message.
    fn failed(command: String, output: &std::process::Output) -> HelmError {
        HelmError::Failed {
            command,
            code: output.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        }
    }
}

/// Cluster flags passed through to helm.
#[derive(Debug, Clone, Default)]
pub struct KubeArgs {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A chart and how to render it.
#[derive(Debug, Clone, Default)]
pub struct ChartArgs {
    pub release: String,
    /// A directory, a `.tgz`, `oci://...` or `repo/name`: passed to helm as given.
    pub chart: String,
    pub namespace: Option<String>,
    pub values: Vec<PathBuf>,
    pub set: Vec<String>,
    /// Extra flags after `--`, passed through verbatim.
    pub extra: Vec<String>,
}

impl ChartArgs {
    fn common(&self, kube: &KubeArgs) -> Vec<String> {
        let mut args = vec![self.release.clone(), self.chart.clone()];
        if let Some(ns) = &self.namespace {
            args.extend(["--namespace".into(), ns.clone()]);
        }
        for file in &self.values {
            args.extend(["--values".into(), file.display().to_string()]);
        }
        for set in &self.set {
            args.extend(["--set".into(), set.clone()]);
        }
        if let Some(kubeconfig) = &kube.kubeconfig {
            args.extend(["--kubeconfig".into(), kubeconfig.display().to_string()]);
        }
        if let Some(context) = &kube.context {
            args.extend(["--kube-context".into(), context.clone()]);
        }
        args
    }
}

#[derive(Debug, Clone)]
pub struct Helm {
    pub bin: PathBuf,
}

impl Helm {
    /// `explicit` (`--helm`), else `$HELM_BIN`, else `helm` on `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<Helm, HelmError> {
        let candidate = explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HELM_BIN").map(PathBuf::from));
        if let Some(path) = candidate {
            if path.is_file() {
                return Ok(Helm { bin: path });
            }
            return Err(HelmError::NotFound(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("helm"))
            .find(|p| p.is_file())
            .map(|bin| Helm { bin })
            .ok_or_else(|| HelmError::NotFound("not on PATH".into()))
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        // Helm's own colours would end up in our captured error messages.
        command.env("NO_COLOR", "1");
        for (name, value) in go_runtime_settings(|name| std::env::var_os(name).is_some()) {
            command.env(name, value);
        }
        command
    }

    fn output(&self, mut command: Command, label: &str) -> Result<String, HelmError> {
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| HelmError::Spawn {
                bin: self.bin.display().to_string(),
                message: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(HelmError::failed(label.to_string(), &output));
        }
        String::from_utf8(output.stdout).map_err(|e| HelmError::Spawn {
            bin: self.bin.display().to_string(),
            message: format!("output is not UTF-8: {e}"),
        })
    }

    /// `helm template --include-crds`: everything the chart renders, CRDs from `crds/`
    /// (subcharts' too, respecting conditions) and from `templates/`.
    pub fn template(&self, chart: &ChartArgs, kube: &KubeArgs) -> Result<String, HelmError> {
        let mut command = self.command();
        command
            .arg("template")
            .args(chart.common(kube))
            .arg("--include-crds")
            .args(&chart.extra);
        self.output(command, &format!("template {}", chart.chart))
    }

    /// The manifest Helm stored for the current revision of `release` (`helm get manifest`):
    /// what Helm compares the next manifest with, and deletes the difference of. `None` when
    /// there is no such release.
    pub fn get_manifest(
        &self,
        release: &str,
        namespace: Option<&str>,
        kube: &KubeArgs,
    ) -> Result<Option<String>, HelmError> {
        let mut command = self.command();
        command.args(["get", "manifest", release]);
        if let Some(namespace) = namespace {
            command.args(["--namespace", namespace]);
        }
        if let Some(kubeconfig) = &kube.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        if let Some(context) = &kube.context {
            command.args(["--kube-context", context]);
        }
        match self.output(command, &format!("get manifest {release}")) {
            Ok(manifest) => Ok(Some(manifest)),
            // Helm's words for a release it has no record of (install, not upgrade).
            Err(HelmError::Failed { stderr, .. }) if stderr.contains("release: not found") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `helm template` with the post-renderer (for `install --dry-run`).
    pub fn template_post_rendered(
        &self,
        chart: &ChartArgs,
        kube: &KubeArgs,
        plugins: &PluginPath,
    ) -> Result<String, HelmError> {
        let mut command = self.command();
        command
            .arg("template")
            .args(chart.common(kube))
            .args(["--skip-crds", "--post-renderer", crate::POST_RENDER_PLUGIN])
            .args(&chart.extra)
            .env("HELM_PLUGINS", &plugins.0);
        self.output(command, &format!("template {}", chart.chart))
    }

    /// Phase 2: `helm upgrade --install --skip-crds --post-renderer crdguard-post-render`,
    /// started; [`RunningHelm::finish`] waits for it.
    pub fn start_upgrade_install(
        &self,
        chart: &ChartArgs,
        kube: &KubeArgs,
        plugins: &PluginPath,
    ) -> Result<RunningHelm, HelmError> {
        let mut command = self.command();
        command
            .args(["upgrade", "--install"])
            .args(chart.common(kube))
            .args(["--skip-crds", "--post-renderer", crate::POST_RENDER_PLUGIN])
            .args(&chart.extra)
            .env("HELM_PLUGINS", &plugins.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().map_err(|e| HelmError::Spawn {
            bin: self.bin.display().to_string(),
            message: e.to_string(),
        })?;
        // Both pipes are drained as helm writes, so a full pipe never stalls it while
        // crdguard is busy elsewhere (waiting for Established, say).
        let collector = std::thread::spawn(move || child.wait_with_output());
        Ok(RunningHelm {
            label: format!("upgrade --install {} {}", chart.release, chart.chart),
            bin: self.bin.display().to_string(),
            collector,
        })
    }

    /// Helm's plugin path for phase 2 and its dry run: our private plugin directory `ours`
    /// first, then wherever the user's plugins live (which may take a `helm env` run, so the
    /// caller works it out once, off the install's critical path).
    pub fn plugin_path(&self, ours: &Path) -> PluginPath {
        // Helm takes `$HELM_PLUGINS` as it is; only without it does helm know where its
        // plugins live (`$HELM_DATA_HOME`, XDG, the platform's default).
        let set = std::env::var("HELM_PLUGINS")
            .ok()
            .filter(|path| !path.trim().is_empty());
        let existing = set
            .or_else(|| {
                Command::new(&self.bin)
                    .args(["env", "HELM_PLUGINS"])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .trim()
                            .trim_matches('"')
                            .to_string()
                    })
            })
            .unwrap_or_default();
        PluginPath(if existing.is_empty() {
            ours.display().to_string()
        } else {
            format!("{}:{existing}", ours.display())
        })
    }
}

/// Go runtime settings for the helm runs crdguard starts, each only when the user has not set
/// it. Go's collector runs beside the program on the other cores and, at its default
/// (`GOGC=100`), collects a render of Envoy Gateway's chart (4 MB of CRDs) often enough to
/// take a quarter of its time on two cores: with `GOGC=400` `helm template` of that chart takes
/// 66 ms instead of 88 ms, for 95 MB of memory instead of 80. `GOMEMLIMIT` keeps a large chart
/// from growing the heap to five times what it holds: near 1 GiB, Go collects as often as it
/// must.
fn go_runtime_settings(is_set: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    [("GOGC", "400"), ("GOMEMLIMIT", "1GiB")]
        .into_iter()
        .filter(|(name, _)| !is_set(name))
        .collect()
}

/// `HELM_PLUGINS` for phase 2: crdguard's post-renderer plugin first ([`Helm::plugin_path`]).
#[derive(Debug, Clone)]
pub struct PluginPath(String);

/// `helm upgrade --install` running ([`Helm::start_upgrade_install`]).
pub struct RunningHelm {
    label: String,
    bin: String,
    collector: std::thread::JoinHandle<std::io::Result<std::process::Output>>,
}

impl RunningHelm {
    /// Waits for helm to end. Its progress text (stdout) and messages (stderr) go to our stderr:
    /// our stdout carries crdguard's report.
    pub fn finish(self) -> Result<(), HelmError> {
        let output = match self.collector.join() {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                return Err(HelmError::Spawn {
                    bin: self.bin,
                    message: e.to_string(),
                });
            }
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !stdout.trim().is_empty() {
            eprint!("{stdout}");
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.trim().is_empty() {
            eprintln!("{}", stderr.trim());
        }
        if output.status.success() {
            Ok(())
        } else {
            Err(HelmError::failed(self.label, &output))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_settings_leave_what_the_user_set_alone() {
        assert_eq!(
            go_runtime_settings(|_| false),
            [("GOGC", "400"), ("GOMEMLIMIT", "1GiB")]
        );
        assert_eq!(
            go_runtime_settings(|name| name == "GOGC"),
            [("GOMEMLIMIT", "1GiB")]
        );
        assert!(go_runtime_settings(|_| true).is_empty());
    }
}
