//! Binding a card (the quick-pay agreement with the bank), confirming it with the bank's code,
//! unbinding it, and reading a member's cards.

use paycore_channels::{
    AgreementOutcome, AgreementSignRequest, AgreementUnsignRequest, CardForBank, PayerInfo,
};
use paycore_kernel::pii::mask_phone;
use paycore_kernel::{BizId, BizType, Secret};
use paycore_store::state::Transition;
use paycore_store::Row;

use crate::model::CARD_COLUMNS;
use crate::pan::{check_expiry, issuer, normalize};
use crate::{Card, CardError, CardEvent, CardStatus, Cards, NewCard};

/// The sealed part of a card: number, expiry, holder (the security code is not kept).
fn sealed_payload(pan: &Secret<String>, expiry: &str, holder: &str) -> Secret<String> {
    Secret::new(format!("{}\n{expiry}\n{holder}", pan.expose()))
}

fn context(card_id: &str) -> String {
    format!("card:{card_id}")
}

impl Cards {
    fn bank(&self) -> Result<&std::sync::Arc<dyn paycore_channels::Connector>, CardError> {
        self.bank
            .as_ref()
            .ok_or_else(|| CardError::Unavailable("no quick-pay bank is connected".into()))
    }

    /// Checks and seals a card, and asks the bank to sign it: the bank texts a code to the
    /// card's phone, which [`Cards::confirm`] takes. The card is `pending` until then.
    pub async fn bind(&self, member_id: &str, card: NewCard) -> Result<Card, CardError> {
        let pan = normalize(&card.pan)?;
        check_expiry(&card.expiry, self.now())?;
        let holder = card.holder_name.trim().to_string();
        if holder.is_empty() || holder.chars().count() > 64 || holder.chars().any(char::is_control)
        {
            return Err(CardError::Invalid(
                "holder_name must be 1 to 64 letters".into(),
            ));
        }
        let phone: String = card
            .phone
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        if !(8..=16).contains(&phone.len()) {
            return Err(CardError::Invalid(
                "phone must be the card's mobile number".into(),
            ));
        }
        if let Some(cvv) = &card.cvv {
            let c = cvv.expose();
            if !(3..=4).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CardError::Invalid("cvv must be 3 or 4 digits".into()));
            }
        }
        let issuer = issuer(pan.expose()).ok_or_else(|| {
            CardError::Invalid("cards of this issuer are not supported (unknown BIN)".into())
        })?;
        let bank = self.bank()?.clone();
        let fingerprint = self.keys.fingerprint(&pan).await?;
        self.refuse_bound_twice(member_id, &fingerprint).await?;
        let id = self.ids.next(BizType::Card, member_id).await?;
        let payload = sealed_payload(&pan, &card.expiry, &holder);
        let sealed = self
            .keys
            .data()
            .await?
            .seal(&context(id.as_str()), payload.expose().as_bytes())?;
        let p = pan.expose();
        let now = self.now();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO cards (card_id, member_id, status, data_key_id, card_sealed, fingerprint,
                first6, last4, brand, bank, card_type, pan_length, phone_masked, channel,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .bind(id.as_str())
        .bind(member_id)
        .bind(CardStatus::Pending.as_str())
        .bind(crate::keys::DATA_KEY)
        .bind(sealed)
        .bind(fingerprint)
        .bind(&p[..6])
        .bind(&p[p.len() - 4..])
        .bind(&issuer.brand)
        .bind(&issuer.bank)
        .bind(&issuer.card_type)
        .bind(i64::try_from(p.len()).unwrap_or(16))
        .bind(mask_phone(&phone))
        .bind(bank.code())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        paycore_store::state::created(&mut tx, id.as_str(), CardStatus::Pending, member_id, now)
            .await?;
        tx.commit().await?;
        let for_bank = CardForBank {
            pan,
            holder_name: holder,
            expiry: card.expiry,
            cvv: card.cvv,
            phone,
        };
        let outcome = self.sign(&id, member_id, for_bank, None).await?;
        match outcome {
            AgreementOutcome::NeedsVerification => self.card(member_id, id.as_str()).await,
            other => self.settle(member_id, id.as_str(), other).await,
        }
    }

    async fn refuse_bound_twice(
        &self,
        member_id: &str,
        fingerprint: &str,
    ) -> Result<(), CardError> {
        let found = sqlx::query(
            "SELECT 1 AS one FROM cards WHERE member_id = $1 AND fingerprint = $2 AND status = $3",
        )
        .bind(member_id)
        .bind(fingerprint)
        .bind(CardStatus::Bound.as_str())
        .fetch_optional(self.db.reader())
        .await?;
        match found {
            Some(_) => Err(CardError::InvalidState("this card is bound already".into())),
            None => Ok(()),
        }
    }

    async fn sign(
        &self,
        id: &BizId,
        member_id: &str,
        card: CardForBank,
        code: Option<String>,
    ) -> Result<AgreementOutcome, CardError> {
        let req = AgreementSignRequest {
            agreement_attempt_id: *id,
            payer: PayerInfo {
                phone: Some(card.phone.clone()),
                member_id: Some(member_id.to_string()),
                ..PayerInfo::default()
            },
            verification_code: code,
            card: Some(card),
        };
        self.bank()?
            .sign_agreement(&req)
            .await
            .map_err(|e| CardError::Unavailable(format!("the bank could not be asked: {e}")))
    }

    /// Confirms a pending card with the code the bank texted: the agreement is signed and the
    /// card is `bound`.
    pub async fn confirm(
        &self,
        member_id: &str,
        card_id: &str,
        sms_code: &str,
    ) -> Result<Card, CardError> {
        if sms_code.len() != 6 || !sms_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::Invalid("sms_code must be 6 digits".into()));
        }
        let card = self.card(member_id, card_id).await?;
        match card.status {
            CardStatus::Pending => {}
            CardStatus::Bound => return Ok(card),
            other => {
                return Err(CardError::InvalidState(format!(
                    "the card is {}",
                    other.as_str()
                )))
            }
        }
        let for_bank = self.unseal(card_id).await?;
        let id: BizId = card_id.parse().map_err(|_| CardError::NotFound)?;
        let outcome = self
            .sign(&id, member_id, for_bank, Some(sms_code.to_string()))
            .await?;
        self.settle(member_id, card_id, outcome).await
    }

    /// Applies the bank's answer to a pending card.
    async fn settle(
        &self,
        member_id: &str,
        card_id: &str,
        outcome: AgreementOutcome,
    ) -> Result<Card, CardError> {
        let now = self.now();
        match outcome {
            AgreementOutcome::Signed { agreement_no } => {
                let mut tx = self.db.begin().await?;
                Transition::new(CardStatus::Pending, CardEvent::Confirm, now)
                    .by(member_id)
                    .set("agreement_no", agreement_no.as_str())
                    .apply(&mut tx, card_id)
                    .await?;
                tx.commit().await?;
                self.card(member_id, card_id).await
            }
            AgreementOutcome::Failed { code, message } if code == "VERIFICATION_FAILED" => Err(
                CardError::Verification(format!("the bank's code is wrong ({message})")),
            ),
            AgreementOutcome::Failed { code, message } => {
                let mut tx = self.db.begin().await?;
                Transition::new(CardStatus::Pending, CardEvent::Fail, now)
                    .by(member_id)
                    .reason(Some(&code))
                    .apply(&mut tx, card_id)
                    .await?;
                tx.commit().await?;
                Err(CardError::Refused { code, message })
            }
            AgreementOutcome::NeedsVerification | AgreementOutcome::Unknown { .. } => Err(
                CardError::Unavailable("the bank did not confirm the card; try again".into()),
            ),
        }
    }

    async fn unseal(&self, card_id: &str) -> Result<CardForBank, CardError> {
        let row = sqlx::query("SELECT card_sealed, phone_masked FROM cards WHERE card_id = $1")
            .bind(card_id)
            .fetch_one(self.db.reader())
            .await?;
        let sealed: Vec<u8> = row.try_get("card_sealed")?;
        let plain = self.keys.data().await?.open(&context(card_id), &sealed)?;
        let text = String::from_utf8(plain.expose().clone())
            .map_err(|_| CardError::Corrupt("a sealed card".into()))?;
        let mut parts = text.splitn(3, '\n');
        let (pan, expiry, holder) = match (parts.next(), parts.next(), parts.next()) {
            (Some(p), Some(e), Some(h)) => (p.to_string(), e.to_string(), h.to_string()),
            _ => return Err(CardError::Corrupt("a sealed card".into())),
        };
        Ok(CardForBank {
            pan: Secret::new(pan),
            holder_name: holder,
            expiry,
            cvv: None,
            // The bank keeps the phone of the signing; the confirmation names the signing.
            phone: row.try_get("phone_masked")?,
        })
    }

    /// Unbinds a card: the bank ends the agreement and the card pays no more.
    pub async fn unbind(&self, member_id: &str, card_id: &str) -> Result<Card, CardError> {
        let card = self.card(member_id, card_id).await?;
        if let (CardStatus::Bound, Some(no)) = (card.status, &card.agreement_no) {
            let req = AgreementUnsignRequest {
                agreement_no: no.clone(),
            };
            self.bank()?
                .unsign_agreement(&req)
                .await
                .map_err(|e| CardError::Unavailable(format!("the bank could not unbind: {e}")))?;
        }
        if matches!(card.status, CardStatus::Pending | CardStatus::Bound) {
            let mut tx = self.db.begin().await?;
            Transition::new(card.status, CardEvent::Unbind, self.now())
                .by(member_id)
                .apply(&mut tx, card_id)
                .await?;
            tx.commit().await?;
        }
        self.card(member_id, card_id).await
    }

    /// One of the member's cards (another member's is not found).
    pub async fn card(&self, member_id: &str, card_id: &str) -> Result<Card, CardError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CARD_COLUMNS} FROM cards WHERE card_id = $1 AND member_id = $2"
        )))
        .bind(card_id)
        .bind(member_id)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(CardError::NotFound)?;
        Card::from_row(&row)
    }

    /// The member's bound cards, oldest first.
    /// The bank's agreement of the member's card, which charges and pays it; a card that is
    /// not bound (pending, failed, unbound) is `InvalidState`.
    pub async fn bound_agreement(
        &self,
        member_id: &str,
        card_id: &str,
    ) -> Result<String, CardError> {
        let card = self.card(member_id, card_id).await?;
        match (card.status, card.agreement_no) {
            (CardStatus::Bound, Some(a)) => Ok(a),
            _ => Err(CardError::InvalidState("the card is not bound".into())),
        }
    }

    pub async fn bound(&self, member_id: &str) -> Result<Vec<Card>, CardError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CARD_COLUMNS} FROM cards WHERE member_id = $1 AND status = $2 ORDER BY id"
        )))
        .bind(member_id)
        .bind(CardStatus::Bound.as_str())
        .fetch_all(self.db.reader())
        .await?;
        rows.iter().map(Card::from_row).collect()
    }
}

impl Cards {
    /// Cards still `pending` after `older_than_ms` — the bank's code has long expired, and the
    /// bank allows no new one for that signing — are `failed` (reason `unconfirmed`). Returns
    /// how many.
    pub async fn fail_unconfirmed(&self, older_than_ms: i64) -> Result<usize, CardError> {
        let now = self.now();
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT card_id FROM cards WHERE status = $1 AND updated_at < $2 LIMIT 1000",
        )
        .bind(CardStatus::Pending.as_str())
        .bind(now - older_than_ms)
        .fetch_all(self.db.reader())
        .await?;
        let n = due.len();
        self.db
            .unit(move |c| {
                Box::pin(async move {
                    for id in &due {
                        let t = Transition::new(CardStatus::Pending, CardEvent::Fail, now)
                            .by("expiry")
                            .reason(Some("unconfirmed"));
                        match t.apply(&mut *c, id.as_str()).await {
                            // Confirmed or unbound meanwhile: left as it is.
                            Ok(_) | Err(paycore_store::state::TransitionError::Lost { .. }) => {}
                            Err(e) => return Err(CardError::from(e)),
                        }
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(n)
    }
}
