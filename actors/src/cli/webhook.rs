//! `webhook serve`, `webhook cert-generate` and `webhook install-config`.

use clap::Subcommand;

use super::ClusterTarget;

/// Webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {}

pub(super) fn run(cmd: WebhookCommand, _target: &ClusterTarget) -> anyhow::Result<u8> {
    match cmd {}
}
