//! `d365audit user ...` and `d365audit token ...`: local accounts of the web UI and API, and API
//! tokens for scripts. Passwords are read from the terminal without echo (or one line of
//! standard input when it is not a terminal), never from the command line; a token is printed
//! once, when it is created. Every change is written to the access log as made at the command
//! line.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use archive::{AccessStore, Role};
use chrono::Utc;
use clap::Subcommand;
use server::accounts::{self, Actor};
use server::secrets::Secret;

use crate::archive_url::ArchiveLocation;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum RoleArg {
    /// Search, timelines, reports, collection status.
    Viewer,
    /// Also exports and the read-only SQL console.
    Auditor,
    /// Also accounts, the access log and settings.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Auditor => Role::Auditor,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// `d365audit user UPN [QUERY]` is the user timeline (see `archive_cmds`); `d365audit user
/// add|list|disable|enable|set-role|set-password` manages accounts. Parsed by hand (clap's
/// derive cannot make a flattened argument group optional next to subcommands).
#[derive(Debug)]
pub(crate) struct UserArgs {
    command: Option<UserCommand>,
    timeline: Option<crate::archive_cmds::TimelineArgs>,
}

impl clap::FromArgMatches for UserArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        if matches.subcommand_name().is_some() {
            let command = UserCommand::from_arg_matches_mut(matches)?;
            Ok(UserArgs { command: Some(command), timeline: None })
        } else {
            let timeline = crate::archive_cmds::TimelineArgs::from_arg_matches_mut(matches)?;
            Ok(UserArgs { command: None, timeline: Some(timeline) })
        }
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for UserArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        let command = crate::archive_cmds::TimelineArgs::augment_args(command);
        UserCommand::augment_subcommands(command)
            .args_conflicts_with_subcommands(true)
            .subcommand_negates_reqs(true)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl UserArgs {
    /// Whether this is account management rather than a timeline.
    pub(crate) fn is_account_command(&self) -> bool {
        self.command.is_some()
    }

    /// The timeline arguments (`d365audit user UPN ...`).
    pub(crate) fn into_timeline(self) -> anyhow::Result<crate::archive_cmds::TimelineArgs> {
        self.timeline.ok_or_else(|| {
            anyhow::anyhow!(
                "say whose timeline (`d365audit user alice@contoso.com`), or manage accounts \
                 with `d365audit user add|list|disable|enable|set-role|set-password`"
            )
        })
    }
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create an account. The password is asked for (or read from standard input).
    Add {
        username: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: RoleArg,
        /// The name shown in the UI and on printed reports (default: the username).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account and end its sessions (its API tokens stop working too).
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Change an account's role.
    SetRole {
        username: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Set a new password (asked for, or read from standard input) and end the account's
    /// sessions.
    SetPassword { username: String },
}

#[derive(Debug, clap::Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Create an API token acting as USERNAME; the token is printed once.
    Create {
        username: String,
        /// What it is for, e.g. "nightly export".
        #[arg(long, default_value = "api token")]
        name: String,
        /// Days until it expires (default: until revoked).
        #[arg(long)]
        days: Option<i64>,
    },
    /// List USERNAME's tokens (never their text).
    List {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one of USERNAME's tokens by its id.
    Revoke { username: String, id: i64 },
}

/// Reads a password: twice without echo from a terminal, else one line of standard input.
fn read_password(username: &str) -> anyhow::Result<Secret> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {username}: "))
            .context("cannot read the password from the terminal")?;
        let second = rpassword::prompt_password("Repeat it: ")
            .context("cannot read the password from the terminal")?;
        if first != second {
            bail!("the two passwords differ; run the command again");
        }
        Ok(Secret::new(first))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            bail!("no password on standard input; pipe one line, or run in a terminal to be asked");
        }
        Ok(Secret::new(password))
    }
}

pub(crate) async fn user(args: UserArgs, location: &ArchiveLocation) -> anyhow::Result<u8> {
    let Some(command) = args.command else {
        bail!("no account command given; see `d365audit user --help`");
    };
    let opened = location.open().await?;
    let backend = opened.backend();
    let actor = Actor::command_line();
    let now = Utc::now();
    let store_ref: &dyn AccessStore = backend.as_ref();
    match command {
        UserCommand::Add { username, role, name } => {
            let password = read_password(&username)?;
            let account = accounts::add_account(
                store_ref,
                &actor,
                &username,
                name.as_deref().unwrap_or(""),
                role.into(),
                password,
                now,
            )
            .await?;
            println!("created {} ({})", account.username, account.role.as_str());
        }
        UserCommand::List { json } => {
            let accounts = store_ref.accounts().await?;
            let mut out = std::io::stdout().lock();
            if json {
                for a in &accounts {
                    let line = serde_json::json!({
                        "id": a.id, "username": a.username, "display_name": a.display_name,
                        "role": a.role.as_str(), "disabled": a.disabled, "created_at": a.created_at,
                    });
                    writeln!(out, "{line}")?;
                }
            } else if accounts.is_empty() {
                writeln!(
                    out,
                    "no accounts yet: `d365audit user add NAME --role admin` creates the first"
                )?;
            } else {
                writeln!(
                    out,
                    "{:<24}  {:<8}  {:<8}  {:<20}  name",
                    "username", "role", "state", "created (UTC)"
                )?;
                for a in &accounts {
                    writeln!(
                        out,
                        "{:<24}  {:<8}  {:<8}  {:<20}  {}",
                        a.username,
                        a.role.as_str(),
                        if a.disabled { "disabled" } else { "active" },
                        a.created_at.format("%Y-%m-%d %H:%M:%S"),
                        a.display_name
                    )?;
                }
            }
        }
        UserCommand::Disable { username } => {
            accounts::set_disabled(store_ref, &actor, &username, true, now).await?;
            println!("disabled {username}; its sessions ended");
        }
        UserCommand::Enable { username } => {
            accounts::set_disabled(store_ref, &actor, &username, false, now).await?;
            println!("enabled {username}");
        }
        UserCommand::SetRole { username, role } => {
            let account =
                accounts::set_role(store_ref, &actor, &username, role.into(), now).await?;
            println!("{} is now {}", account.username, account.role.as_str());
        }
        UserCommand::SetPassword { username } => {
            accounts::find(store_ref, &username).await?;
            let password = read_password(&username)?;
            accounts::set_password(store_ref, &actor, &username, password, now).await?;
            println!("password of {username} changed; its sessions ended");
        }
    }
    opened.close().await?;
    Ok(0)
}

pub(crate) async fn token(args: TokenArgs, location: &ArchiveLocation) -> anyhow::Result<u8> {
    let opened = location.open().await?;
    let backend = opened.backend();
    let actor = Actor::command_line();
    let now = Utc::now();
    let store_ref: &dyn AccessStore = backend.as_ref();
    match args.command {
        TokenCommand::Create { username, name, days } => {
            let expires_at = match days {
                None => None,
                Some(days) if (1..=3650).contains(&days) => {
                    Some(now + chrono::Duration::days(days))
                }
                Some(_) => bail!("--days is 1 to 3650"),
            };
            let (token, secret) =
                accounts::create_api_token(store_ref, &actor, &username, &name, expires_at, now)
                    .await?;
            eprintln!(
                "token {} ({}) for {username}{}; it is shown only now:",
                token.id,
                token.name,
                expires_at
                    .map(|t| format!(", expires {}", t.format("%Y-%m-%d")))
                    .unwrap_or_default()
            );
            println!("{}", secret.expose());
        }
        TokenCommand::List { username, json } => {
            let tokens = accounts::api_tokens(store_ref, &username).await?;
            let mut out = std::io::stdout().lock();
            for t in &tokens {
                if json {
                    writeln!(out, "{}", serde_json::to_string(t)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>5}  {:<24}  created {}  {}  {}",
                        t.id,
                        t.name,
                        t.created_at.format("%Y-%m-%d"),
                        t.expires_at
                            .map(|e| format!("expires {}", e.format("%Y-%m-%d")))
                            .unwrap_or_else(|| "no expiry".into()),
                        if t.revoked { "revoked" } else { "active" }
                    )?;
                }
            }
            if tokens.is_empty() && !json {
                writeln!(out, "{username} has no API tokens")?;
            }
        }
        TokenCommand::Revoke { username, id } => {
            accounts::revoke_api_token(store_ref, &actor, &username, id, now).await?;
            println!("revoked token {id} of {username}");
        }
    }
    opened.close().await?;
    Ok(0)
}
