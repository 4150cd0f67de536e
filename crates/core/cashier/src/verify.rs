//! Step-up (risk's `CHALLENGE`): the payer's request waits, stored as it was asked, while an
//! SMS code goes to the member's phone; `verify` with that code (or the pay password) then
//! pays it exactly as asked, without asking risk again. Nothing is taken before.

use paycore_acquiring::{Acquiring, Payment};
use paycore_member::SmsPurpose;

use crate::model::Instrument;
use crate::pay::{PayOutcome, PayRequest};
use crate::{Cashier, CashierError};

/// A request waiting for the payer's confirmation.
pub(crate) struct Challenge {
    pub request_no: String,
    pub request_hash: String,
    pub instruments: Vec<Instrument>,
}

/// How the payer confirms.
#[derive(Debug, Clone)]
pub enum Verification {
    SmsCode(String),
    PayPassword(String),
}

impl Cashier {
    /// Stores the challenged request (once per `request_no`) and texts the member a code.
    pub(crate) async fn challenge(
        &self,
        member_id: &str,
        payment: &Payment,
        req: &PayRequest,
        request_hash: &str,
    ) -> Result<PayOutcome, CashierError> {
        let instruments = serde_json::to_string(&req.instruments)
            .map_err(|e| CashierError::Corrupt(e.to_string()))?;
        let q = sqlx::query(
            "INSERT INTO cashier_challenges (member_id, request_no, payment_id, request_hash,
                instruments, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (member_id, request_no) DO NOTHING",
        )
        .bind(member_id)
        .bind(&req.request_no)
        .bind(&payment.payment_id)
        .bind(request_hash)
        .bind(instruments)
        .bind(self.now());
        self.0.db.execute(q).await?;
        let member = self.0.members.get(member_id).await?;
        match self
            .0
            .members
            .send_code(&member.phone, SmsPurpose::Payment)
            .await
        {
            // A code went to this phone a moment ago (for something else): the request still
            // waits, and the member asks for the payment's code once the window has passed.
            Ok(_) | Err(paycore_member::MemberError::RateLimited(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(PayOutcome::Verify {
            payment: Box::new(payment.clone()),
            method: "sms",
        })
    }

    /// The member's challenged request for a payment still waiting for confirmation, if any
    /// (the newest).
    pub(crate) async fn waiting(
        &self,
        member_id: &str,
        payment_id: &str,
    ) -> Result<Option<Challenge>, CashierError> {
        let row = self
            .0
            .db
            .read_optional(
                "SELECT request_no, request_hash, instruments FROM cashier_challenges
                 WHERE member_id = $1 AND payment_id = $2 AND verified_at IS NULL
                 ORDER BY id DESC LIMIT 1",
                &[member_id.into(), payment_id.into()],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Challenge {
            request_no: r.text("request_no")?,
            request_hash: r.text("request_hash")?,
            instruments: serde_json::from_str(&r.text("instruments")?)
                .map_err(|e| CashierError::Corrupt(e.to_string()))?,
        }))
    }

    /// Confirms the member's waiting request for the payment and pays it as asked.
    pub async fn verify(
        &self,
        acquiring: &Acquiring,
        member_id: &str,
        payment_id: &str,
        how: Verification,
    ) -> Result<Payment, CashierError> {
        let payment = self.payable(acquiring, member_id, payment_id).await?;
        let Some(c) = self.waiting(member_id, payment_id).await? else {
            return Err(CashierError::InvalidState(
                "nothing of this payment waits for confirmation".into(),
            ));
        };
        let member = self.0.members.get(member_id).await?;
        match how {
            Verification::SmsCode(code) => {
                self.0
                    .members
                    .check_code(&member.phone, SmsPurpose::Payment, &code)
                    .await?
            }
            Verification::PayPassword(p) => {
                self.0.members.check_pay_password(member_id, &p).await?
            }
        }
        let q = sqlx::query(
            "UPDATE cashier_challenges SET verified_at = $1
             WHERE member_id = $2 AND request_no = $3 AND verified_at IS NULL",
        )
        .bind(self.now())
        .bind(member_id)
        .bind(&c.request_no);
        self.0.db.execute(q).await?;
        let req = PayRequest {
            request_no: c.request_no,
            instruments: c.instruments,
            pay_password: None,
            device_id: None,
            client_ip: None,
        };
        // Risk decided when the request was made (stored then): it is not asked again.
        self.execute(acquiring, &member, payment, req, c.request_hash, None)
            .await
    }
}
