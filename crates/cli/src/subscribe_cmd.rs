//! `d365audit subscribe start|stop|list`: manage the Management Activity API subscriptions of
//! the configured tenants (every configured content type). The webhook's authId comes from the
//! configuration, never from the command line.

use std::path::Path;
use std::sync::Arc;

use url::Url;

use crate::collection_setup::load_collection_settings;

#[derive(Debug, clap::Args)]
pub(crate) struct SubscribeArgs {
    #[command(subcommand)]
    command: SubscribeCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SubscribeCommand {
    /// Start (or re-enable) the subscriptions; with a webhook when one is configured or given.
    Start {
        /// Only these tenants (names from the configuration); default: all.
        #[arg(long = "tenant", value_name = "NAME")]
        tenants: Vec<String>,
        /// The public https address of the webhook (default: webhook.public_address).
        #[arg(long, value_name = "URL")]
        webhook_address: Option<Url>,
        /// Start without a webhook even when one is configured (polling only).
        #[arg(long, conflicts_with = "webhook_address")]
        no_webhook: bool,
    },
    /// Stop the subscriptions. Content can no longer be listed after a stop, and a later start
    /// only shows newer content.
    Stop {
        #[arg(long = "tenant", value_name = "NAME")]
        tenants: Vec<String>,
    },
    /// List the subscriptions Microsoft has for each tenant.
    List {
        #[arg(long = "tenant", value_name = "NAME")]
        tenants: Vec<String>,
    },
}

pub(crate) async fn run(args: SubscribeArgs, config: Option<&Path>) -> anyhow::Result<u8> {
    let settings = load_collection_settings(config)?;
    let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
    let mut failed = false;
    match args.command {
        SubscribeCommand::Start { tenants, webhook_address, no_webhook } => {
            let webhook = if no_webhook {
                None
            } else {
                settings.webhook.registration(webhook_address.as_ref())?
            };
            for tenant in settings.select_tenants(&tenants)? {
                let client =
                    collector::activity_client(tenant, &settings.collector, clock.clone())?;
                for change in
                    collector::start_subscriptions(&client, tenant, webhook.as_ref()).await
                {
                    failed |= print_change(&change);
                }
            }
        }
        SubscribeCommand::Stop { tenants } => {
            for tenant in settings.select_tenants(&tenants)? {
                let client =
                    collector::activity_client(tenant, &settings.collector, clock.clone())?;
                for change in collector::stop_subscriptions(&client, tenant).await {
                    failed |= print_change(&change);
                }
            }
        }
        SubscribeCommand::List { tenants } => {
            for tenant in settings.select_tenants(&tenants)? {
                let client =
                    collector::activity_client(tenant, &settings.collector, clock.clone())?;
                match collector::list_subscriptions(&client).await {
                    Ok(list) if list.is_empty() => println!("{}: no subscriptions", tenant.name),
                    Ok(list) => {
                        for sub in list {
                            let webhook = match &sub.webhook {
                                Some(hook) => {
                                    format!("webhook {} ({:?})", hook.address, hook.status)
                                }
                                None => "no webhook".to_owned(),
                            };
                            println!(
                                "{}: {} {:?}, {webhook}",
                                tenant.name, sub.content_type, sub.status
                            );
                        }
                    }
                    Err(error) => {
                        failed = true;
                        println!(
                            "{}: cannot list subscriptions: {error} ({})",
                            tenant.name,
                            error.action()
                        );
                    }
                }
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Prints one change; true when it failed.
fn print_change(change: &collector::SubscriptionChange) -> bool {
    match &change.result {
        Ok(what) => {
            println!("{}: {}: {what}", change.tenant, change.content_type);
            false
        }
        Err(error) => {
            println!("{}: {}: FAILED: {error}", change.tenant, change.content_type);
            true
        }
    }
}
