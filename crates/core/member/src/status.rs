//! An operator's changes to a member: freeze (logins and changes refused, the wallet kept),
//! unfreeze, close (for good). Every move through the executor, with its history.

use paycore_store::state::Transition;

use crate::{Member, MemberError, MemberEvent, MemberStatus, Members};

impl MemberEvent {
    pub fn parse_field(s: &str) -> Result<Self, MemberError> {
        <Self as paycore_kernel::state::Named>::parse(s).ok_or_else(|| {
            MemberError::Invalid(format!("unknown event {s:?} (freeze, unfreeze, close)"))
        })
    }
}

impl Members {
    /// Moves a member's status; `actor` is the operator. Tokens of a member who is no longer
    /// active stop working at once on this node (within seconds on the others).
    pub async fn transition(
        &self,
        member_id: &str,
        event: MemberEvent,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Member, MemberError> {
        let m = self.get(member_id).await?;
        let mut tx = self.db.begin().await?;
        Transition::new(m.status, event, self.now())
            .by(actor)
            .reason(reason)
            .apply(&mut tx, member_id)
            .await?;
        tx.commit().await?;
        let after = self.get(member_id).await?;
        if after.status != MemberStatus::Active {
            self.sessions.retain(|_| false);
        }
        Ok(after)
    }
}
