//! The platform's one mode, settled against its database. A database is set up in one mode and
//! keeps it: the server and every command read it from there, so `paycore merchant create` on a
//! production database makes an onboarding merchant whatever flags it was given, and a sandbox
//! (auto-activated merchants, public test controls) can never be started on production data.

use std::net::IpAddr;

use anyhow::Context;
use paycore_store::Db;

use crate::settings::Mode;

/// The name the mode is recorded under in the platform settings.
const SETTING: &str = "mode";

/// The mode a process runs in: the recorded one (a different request is refused); for a new
/// database the requested one, else sandbox on the embedded database and production on
/// PostgreSQL.
pub fn decide(
    recorded: Option<Mode>,
    requested: Option<Mode>,
    embedded: bool,
) -> anyhow::Result<Mode> {
    match (recorded, requested) {
        (Some(r), Some(q)) if r != q => anyhow::bail!(
            "this database was set up in {} mode and keeps it: --mode {} refused \
             (use a new data directory or database for the other mode)",
            r.as_str(),
            q.as_str()
        ),
        (Some(r), _) => Ok(r),
        (None, Some(q)) => Ok(q),
        (None, None) if embedded => Ok(Mode::Sandbox),
        (None, None) => Ok(Mode::Production),
    }
}

/// Reads the database's mode, recording the decided one on a database that has none yet once
/// `check` accepts it (so that a refused start leaves a new database free to take either mode).
pub async fn settle(
    db: &Db,
    requested: Option<Mode>,
    now: i64,
    check: impl FnOnce(Mode) -> anyhow::Result<()>,
) -> anyhow::Result<Mode> {
    let embedded = db.engine() == paycore_store::Engine::Sqlite;
    let recorded = match paycore_store::settings::get(db, SETTING).await? {
        Some(v) => Some(parse(&v)?),
        None => None,
    };
    let mode = decide(recorded, requested, embedded)?;
    check(mode)?;
    if recorded.is_none() {
        // Two processes setting up one database at once: the first record wins, and the
        // loser is refused if it asked for the other mode.
        let won = paycore_store::settings::set_once(db, SETTING, mode.as_str(), now).await?;
        return decide(Some(parse(&won)?), requested, embedded);
    }
    Ok(mode)
}

fn parse(v: &str) -> anyhow::Result<Mode> {
    Mode::parse(v).with_context(|| format!("the database records an unknown mode {v:?}"))
}

/// Sandbox mode serves public test controls (pay any QR code, change a channel's behaviour,
/// move the clock), so it listens on loopback only unless a deployment says otherwise.
pub fn require_loopback(listen: &str, what: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<IpAddr> = listen
        .to_socket_addrs()
        .with_context(|| format!("resolving {listen}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() || addrs.iter().any(|ip| !ip.is_loopback()) {
        anyhow::bail!(
            "{what} listens on loopback only (asked: {listen}); use --mode production for a \
             deployment, or --allow-public-sandbox for a shared test environment behind its \
             own access control"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_keeps_its_mode() {
        use Mode::*;
        assert_eq!(decide(None, None, true).unwrap(), Sandbox);
        assert_eq!(decide(None, None, false).unwrap(), Production);
        assert_eq!(decide(None, Some(Production), true).unwrap(), Production);
        assert_eq!(decide(Some(Production), None, true).unwrap(), Production);
        assert_eq!(decide(Some(Sandbox), None, false).unwrap(), Sandbox);
        assert!(decide(Some(Production), Some(Sandbox), true).is_err());
        assert!(decide(Some(Sandbox), Some(Production), true).is_err());
    }

    #[test]
    fn sandbox_listens_on_loopback_only() {
        for ok in ["127.0.0.1:0", "[::1]:0", "localhost:0"] {
            require_loopback(ok, "sandbox").unwrap();
        }
        for refused in [
            "0.0.0.0:8080",
            "[::]:8080",
            "192.168.1.10:8080",
            "10.0.0.1:80",
        ] {
            assert!(require_loopback(refused, "sandbox").is_err(), "{refused}");
        }
    }
}
