//! A card as stored and shown, and its status machine.

use paycore_kernel::state::{Named, StateMachine};
use paycore_kernel::Secret;
use paycore_store::state::{Stored, Table};
use paycore_store::Row;

use crate::pan::mask;
use crate::CardError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    /// Sealed, waiting for the bank's code.
    Pending,
    /// The quick-pay agreement is signed: the card pays.
    Bound,
    /// The bank refused the card or the signing ended unconfirmed.
    Failed,
    Unbound,
}
paycore_kernel::named!(CardStatus { Pending => "pending", Bound => "bound", Failed => "failed",
    Unbound => "unbound" });

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardEvent {
    Confirm,
    Fail,
    Unbind,
}
paycore_kernel::named!(CardEvent { Confirm => "confirm", Fail => "fail", Unbind => "unbind" });

impl StateMachine for CardStatus {
    type Event = CardEvent;
    const INITIAL: &'static [Self] = &[CardStatus::Pending];
    const TRANSITIONS: &'static [(Self, CardEvent, Self)] = &[
        (CardStatus::Pending, CardEvent::Confirm, CardStatus::Bound),
        (CardStatus::Pending, CardEvent::Fail, CardStatus::Failed),
        (CardStatus::Pending, CardEvent::Unbind, CardStatus::Unbound),
        (CardStatus::Bound, CardEvent::Unbind, CardStatus::Unbound),
    ];
}

impl Stored for CardStatus {
    const TABLE: Table = Table {
        machine: "card",
        table: "cards",
        key: "card_id",
        status: "status",
        updated_at: Some("updated_at"),
        history: "card_status_history",
        history_key: "card_id",
    };
}

/// A card to bind, as the member typed it.
#[derive(Debug)]
pub struct NewCard {
    pub pan: Secret<String>,
    pub holder_name: String,
    /// `MM/YY`.
    pub expiry: String,
    pub cvv: Option<Secret<String>>,
    /// The phone the bank has for the card.
    pub phone: String,
}

/// A card as the platform shows it: never its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub card_id: String,
    pub member_id: String,
    pub status: CardStatus,
    pub masked_pan: String,
    pub brand: String,
    pub bank: String,
    pub card_type: String,
    pub phone: String,
    /// The bank that signed it and its agreement number (for paying by it).
    pub channel: String,
    pub agreement_no: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const CARD_COLUMNS: &str = "card_id, member_id, status, first6, last4, brand, bank, \
    card_type, phone_masked, channel, agreement_no, pan_length, created_at, updated_at";

impl Card {
    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, CardError> {
        let status: String = r.try_get("status")?;
        let (first6, last4): (String, String) = (r.try_get("first6")?, r.try_get("last4")?);
        let len: i64 = r.try_get("pan_length")?;
        Ok(Card {
            card_id: r.try_get("card_id")?,
            member_id: r.try_get("member_id")?,
            status: CardStatus::parse(&status)
                .ok_or_else(|| CardError::Corrupt(format!("card status {status:?}")))?,
            masked_pan: mask(&first6, &last4, usize::try_from(len).unwrap_or(16)),
            brand: r.try_get("brand")?,
            bank: r.try_get("bank")?,
            card_type: r.try_get("card_type")?,
            phone: r.try_get("phone_masked")?,
            channel: r.try_get("channel")?,
            agreement_no: r.try_get("agreement_no")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}
