//! The emulator of `castellan bench sync` in a process of its own (`castellan emulate
//! --only …`), so the bench process's peak RSS is Castellan's own: with the emulator in the
//! same process its serving allocations counted as Castellan's.

use std::process::Stdio;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A running emulator process, killed when dropped.
pub(crate) struct EmulatorProcess {
    child: tokio::process::Child,
    /// `http://127.0.0.1:port`
    pub base: String,
}

impl EmulatorProcess {
    /// Starts `castellan emulate` generating `scale` for `platform` alone (seed 1, as the
    /// in-process benches use) and waits until it listens.
    pub(crate) async fn start(
        platform: castellan_domain::apps::Platform,
        scale: castellan_emulators::Scale,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("the castellan executable")?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args([
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "1",
            "--only",
        ])
        .arg(platform.as_str());
        for (flag, n) in [
            ("--members", scale.members),
            ("--assets", scale.assets),
            ("--partners", scale.partners),
            ("--grants-per-member", scale.grants_per_member),
            ("--connected-partners", scale.connected_partners),
            ("--partner-users", scale.partner_users),
        ] {
            cmd.arg(flag).arg(n.to_string());
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the emulator process")?;
        let stdout = child.stdout.take().context("the emulator's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(line) = lines.next_line().await? else {
                anyhow::bail!("the emulator process ended before it listened");
            };
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .context("the emulator's address")?
                    .to_string();
            }
        };
        // Its further output is drained, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(EmulatorProcess { child, base })
    }

    /// CPU seconds the process has used.
    pub(crate) fn cpu_secs(&self) -> f64 {
        self.child
            .id()
            .map(|pid| super::cpu_secs(&format!("/proc/{pid}/stat")))
            .unwrap_or(0.0)
    }

    /// The process's current and peak resident memory (kB).
    pub(crate) fn rss_kb(&self) -> (u64, u64) {
        self.child
            .id()
            .map(|pid| super::rss_of(&format!("/proc/{pid}/status")))
            .unwrap_or((0, 0))
    }
}
