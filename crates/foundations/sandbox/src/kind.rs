//! The five sandbox channels and what makes each one different.

use paycore_kernel::product::Product;
use paycore_kernel::Currency;

use super::wire::{Format, Sign, WireSpec};
use crate::codes;
use paycore_channels::connector::{Capabilities, Interaction, NotificationAck};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    NetBank,
    Alipay,
    Wechat,
    Carrier,
    QuickPay,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::NetBank,
        Kind::Alipay,
        Kind::Wechat,
        Kind::Carrier,
        Kind::QuickPay,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Kind::NetBank => codes::NETBANK,
            Kind::Alipay => codes::ALIPAY,
            Kind::Wechat => codes::WECHAT,
            Kind::Carrier => codes::CARRIER,
            Kind::QuickPay => codes::QUICKPAY,
        }
    }

    /// The path segment of the channel's API: `/sandbox/api/{slug}/{op}`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::NetBank => "netbank",
            Kind::Alipay => "alipay",
            Kind::Wechat => "wechat",
            Kind::Carrier => "carrier",
            Kind::QuickPay => "quickpay",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn from_slug(slug: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.slug() == slug)
    }

    pub fn product(self) -> Product {
        match self {
            Kind::NetBank => Product::NetBank,
            Kind::Alipay => Product::Alipay,
            Kind::Wechat => Product::Wechat,
            Kind::Carrier => Product::PhoneBill,
            Kind::QuickPay => Product::QuickPay,
        }
    }

    pub fn interaction(self) -> Interaction {
        match self {
            Kind::NetBank => Interaction::Redirect,
            Kind::Alipay | Kind::Wechat => Interaction::QrCode,
            Kind::Carrier | Kind::QuickPay => Interaction::Synchronous,
        }
    }

    /// True when `pay` charges at once (no payer action at the channel).
    pub fn charges_on_pay(self) -> bool {
        self.interaction() == Interaction::Synchronous
    }

    /// Whether the channel tells the platform by async notification.
    pub fn notifies(self) -> bool {
        !matches!(self, Kind::QuickPay)
    }

    pub fn wire(self) -> WireSpec {
        match self {
            Kind::NetBank => WireSpec {
                format: Format::Form,
                request_sign: Sign::FieldHmacHex,
                response_sign: Sign::FieldHmacHex,
            },
            Kind::Alipay => WireSpec {
                format: Format::Json,
                request_sign: Sign::FieldHmacB64,
                response_sign: Sign::FieldEd25519B64,
            },
            Kind::Wechat => WireSpec {
                format: Format::Xml,
                request_sign: Sign::FieldHmacUpperWithKey,
                response_sign: Sign::FieldHmacUpperWithKey,
            },
            Kind::Carrier => WireSpec {
                format: Format::Json,
                request_sign: Sign::HeaderHmacB64("x-carrier-signature"),
                response_sign: Sign::HeaderHmacB64("x-carrier-signature"),
            },
            Kind::QuickPay => WireSpec {
                format: Format::Json,
                request_sign: Sign::HeaderHmacB64("x-quickpay-sign"),
                response_sign: Sign::HeaderHmacB64("x-quickpay-sign"),
            },
        }
    }

    /// What the channel expects back when its notification was accepted.
    pub fn ack(self) -> NotificationAck {
        let (content_type, body) = match self {
            Kind::NetBank => ("text/plain", "OK"),
            Kind::Alipay => ("text/plain", "success"),
            Kind::Wechat => (
                "text/xml",
                "<xml><return_code>SUCCESS</return_code><return_msg>OK</return_msg></xml>",
            ),
            Kind::Carrier => ("application/json", "{\"result\":\"ok\"}"),
            Kind::QuickPay => ("application/json", "{\"code\":\"SUCCESS\"}"),
        };
        NotificationAck {
            status: 200,
            content_type,
            body: body.to_string(),
        }
    }

    /// True when `body` is the ack this channel expects (the sandbox retries otherwise).
    pub fn is_ack(self, body: &str) -> bool {
        body.trim() == self.ack().body
    }

    /// The channel's fee on each payment, in basis points (what its settlement file shows).
    pub fn fee_bps(self) -> u32 {
        match self {
            Kind::NetBank => 20,
            Kind::Alipay | Kind::Wechat => 60,
            Kind::Carrier => 300,
            Kind::QuickPay => 25,
        }
    }

    pub fn currencies(self) -> Vec<Currency> {
        match self {
            Kind::QuickPay => vec![Currency::CNY, Currency::USD],
            _ => vec![Currency::CNY],
        }
    }

    pub fn capabilities(self) -> Capabilities {
        Capabilities {
            products: vec![self.product()],
            currencies: self.currencies(),
            interaction: self.interaction(),
            async_notifications: self.notifies(),
            refund: true,
            partial_refund: true,
            cancel: true,
            settlement_file: true,
            balance: true,
            ..Capabilities::default()
        }
    }
}
