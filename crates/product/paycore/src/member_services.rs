//! The services the member platform calls out to: the SMS gateway and the identity service.
//! In sandbox mode they are the sandbox's (codes land in `GET /sandbox/sms`); in production
//! none is built in yet, and the calls that need one answer that it is not configured.

use std::sync::Arc;

use paycore_kernel::Clock;
use paycore_member::{IdentityCheck, IdentityService, SmsGateway};
use paycore_store::Db;

/// Texts land in the sandbox's SMS inbox.
pub struct SandboxSms {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
}

#[async_trait::async_trait]
impl SmsGateway for SandboxSms {
    async fn send(&self, phone: &str, message: &str, code: Option<&str>) -> Result<(), String> {
        paycore_sandbox::sms::record_sms(&self.db, self.clock.as_ref(), phone, message, code)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The sandbox's identity registry.
pub struct SandboxIdentity;

#[async_trait::async_trait]
impl IdentityService for SandboxIdentity {
    async fn check(&self, name: &str, id_number: &str) -> Result<IdentityCheck, String> {
        Ok(
            match paycore_sandbox::identity::identity_matches(name, id_number) {
                true => IdentityCheck::Matched,
                false => IdentityCheck::Mismatch,
            },
        )
    }
}

/// Production without a provider: refuses, saying so.
pub struct NotConfigured(pub &'static str);

#[async_trait::async_trait]
impl SmsGateway for NotConfigured {
    async fn send(&self, _: &str, _: &str, _: Option<&str>) -> Result<(), String> {
        Err(format!("no {} is configured", self.0))
    }
}

#[async_trait::async_trait]
impl IdentityService for NotConfigured {
    async fn check(&self, _: &str, _: &str) -> Result<IdentityCheck, String> {
        Err(format!("no {} is configured", self.0))
    }
}

/// The member platform of a node: the sandbox's services in sandbox mode.
pub fn members(
    db: &Db,
    ids: Arc<paycore_kernel::IdGenerator>,
    vault: &paycore_kernel::crypto::Vault,
    clock: Arc<dyn Clock>,
    sandbox: bool,
) -> paycore_member::Members {
    let (sms, identity): (Arc<dyn SmsGateway>, Arc<dyn IdentityService>) = if sandbox {
        let sms = SandboxSms {
            db: db.clone(),
            clock: clock.clone(),
        };
        (Arc::new(sms), Arc::new(SandboxIdentity))
    } else {
        (
            Arc::new(NotConfigured("SMS gateway")),
            Arc::new(NotConfigured("identity service")),
        )
    };
    paycore_member::Members::new(
        db.clone(),
        ids,
        vault.clone(),
        clock,
        sms,
        identity,
        paycore_member::MemberConfig::default(),
    )
}
