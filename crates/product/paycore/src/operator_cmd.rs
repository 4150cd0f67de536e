//! `paycore operator …`: the operators of the admin API from the command line (add, list,
//! disable, rotate), printed as the operator API shows them; and the audit rows of command line
//! actions that change data.

use clap::Subcommand;
use paycore_kernel::crypto::random_token;
use paycore_kernel::state::Named;
use paycore_operators::{audit_companion, NewAudit, Operator, Operators, Role};
use paycore_store::unit::companion::with_companion;
use serde_json::json;

use crate::Platform;

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; prints its id and token (the token is shown this once).
    Add {
        #[arg(long)]
        name: String,
        /// viewer, operator, finance or admin.
        #[arg(long, default_value = "operator")]
        role: String,
        /// The token stops working this many days from now (1 to 3650).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    List,
    /// Disable an operator: its token stops working within seconds on every node.
    Disable {
        operator_id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Give an operator a new token (printed once); the old one stops working.
    Rotate {
        operator_id: String,
    },
}

/// Who the command line acts as in the audit trail and the histories.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Runs a command line action that changes data, audited: its row joins the first transaction
/// the action makes (so the change and its row commit together, outcome `ok`); an action that
/// failed is recorded with its error, one that made no transaction after it ran.
pub async fn audited<T>(
    p: &Platform,
    action: &str,
    target: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let actor = cli_actor();
    let entry = |outcome: &str| {
        NewAudit {
            operator: &actor,
            role: "",
            client: "",
            action,
            route: "",
            target,
            outcome,
            detail: "",
            at: p.clock.unix_millis(),
        }
        .to_entry()
    };
    let ops = Operators::new(p.db.clone());
    let call_ref = random_token(32)?;
    let done = with_companion(audit_companion(entry("ok"), call_ref.clone()), work).await;
    let committed = ops.audited(&call_ref).await.unwrap_or(false);
    let outcome = match &done {
        Ok(_) if committed => return done,
        Ok(_) => "ok".to_string(),
        Err(e) => format!("error: {e}"),
    };
    let row = entry(&outcome);
    let written =
        p.db.unit(move |c| Box::pin(async move { paycore_operators::audit_append(c, &row).await }))
            .await;
    if let Err(e) = written {
        tracing::error!(target: "error", code = "AUDIT_WRITE", message = %e, action);
    }
    done
}

fn view(o: &Operator) -> serde_json::Value {
    json!({
        "operator_id": o.operator_id,
        "name": o.name,
        "role": o.role.as_str(),
        "status": o.status.as_str(),
        "expires_at": o.expires_at.map(paycore_api::fields::rfc3339),
        "created_at": paycore_api::fields::rfc3339(o.created_at),
    })
}

pub async fn run(p: &Platform, command: OperatorCommand) -> anyhow::Result<()> {
    let ops = Operators::new(p.db.clone());
    let now = p.clock.unix_millis();
    let actor = cli_actor();
    let out = match command {
        OperatorCommand::Add {
            name,
            role,
            expires_in_days,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("role must be viewer, operator, finance or admin")
            })?;
            let add = ops.add(&name, role, expires_in_days, &actor, now);
            let (op, token) = audited(p, "operator add", &name, async { Ok(add.await?) }).await?;
            let mut v = view(&op);
            v["token"] = token.into();
            v
        }
        OperatorCommand::List => {
            serde_json::Value::Array(ops.list().await?.iter().map(view).collect())
        }
        OperatorCommand::Disable {
            operator_id,
            reason,
        } => {
            let disable = ops.disable(&operator_id, &actor, reason.as_deref(), now);
            let op = audited(p, "operator disable", &operator_id, async {
                Ok(disable.await?)
            })
            .await?;
            view(&op)
        }
        OperatorCommand::Rotate { operator_id } => {
            let rotate = ops.rotate(&operator_id, now);
            let token = audited(p, "operator rotate", &operator_id, async {
                Ok(rotate.await?)
            })
            .await?;
            let mut v = view(&ops.get(&operator_id).await?);
            v["token"] = token.into();
            v
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; exits non-zero when a row was changed, removed or
    /// inserted.
    Verify,
    /// The newest entries, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

pub async fn audit(p: &Platform, command: AuditCommand) -> anyhow::Result<()> {
    let ops = Operators::new(p.db.clone());
    match command {
        AuditCommand::Verify => {
            let check = ops.verify_audit().await?;
            println!("{}", serde_json::to_string_pretty(&check)?);
            if !check.problems.is_empty() {
                anyhow::bail!("the audit trail does not verify");
            }
        }
        AuditCommand::List { limit } => {
            let list: Vec<serde_json::Value> = ops
                .audit_log(limit)
                .await?
                .into_iter()
                .map(|e| {
                    json!({"operator": e.operator, "role": e.role, "client_address": e.client,
                        "route": e.route, "target": e.target, "outcome": e.outcome,
                        "action": e.action, "at": paycore_api::fields::rfc3339(e.at)})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    Ok(())
}
