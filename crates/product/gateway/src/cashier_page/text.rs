//! The cashier page's words in Chinese and English, chosen by the browser's language.

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The first language of `Accept-Language` that the page speaks (English otherwise).
    pub(crate) fn from_header(accept: Option<&str>) -> Lang {
        for tag in accept.unwrap_or_default().split(',') {
            let tag = tag
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// One of the page's words.
    pub(crate) fn t(self, key: Key) -> &'static str {
        let (zh, en) = match key {
            Key::Title => ("收银台", "Checkout"),
            Key::PayTo => ("付款给", "Pay to"),
            Key::Login => ("登录后付款", "Log in to pay"),
            Key::Phone => ("手机号", "Phone number"),
            Key::Password => ("登录密码", "Password"),
            Key::LoginButton => ("登录", "Log in"),
            Key::Method => ("付款方式", "Pay with"),
            Key::Balance => ("账户余额", "Wallet balance"),
            Key::Coins => ("虚拟币", "Coins"),
            Key::Credit => ("信用额度", "Credit"),
            Key::Card => ("银行卡", "Card"),
            Key::Available => ("可用", "available"),
            Key::NotEnough => ("余额不足", "not enough"),
            Key::Coupon => ("优惠券", "Coupon"),
            Key::NoCoupon => ("不使用优惠券", "No coupon"),
            Key::Off => ("减", "off"),
            Key::PayPassword => ("支付密码", "Pay password"),
            Key::PayButton => ("确认付款", "Pay"),
            Key::Paid => ("付款成功", "Payment successful"),
            Key::Processing => (
                "付款处理中，请稍后查看结果",
                "Payment processing: the result follows shortly",
            ),
            Key::Back => ("返回商户", "Back to the merchant"),
            Key::Unavailable => ("这笔订单已不能付款", "This payment can no longer be paid"),
            Key::NotFound => ("找不到这笔订单", "No such payment"),
            Key::Expired => (
                "页面已过期，请重新提交",
                "The page expired: please submit again",
            ),
            Key::NoMethod => (
                "没有可用的付款方式",
                "No way to pay this payment is available",
            ),
            Key::Choose => ("请选择付款方式", "Choose how to pay"),
            Key::Secure => ("由 paycore 安全收款", "Secured by paycore"),
            Key::Confirm => (
                "请输入发送到您手机的验证码",
                "Enter the code sent to your phone",
            ),
            Key::SmsCode => ("短信验证码", "SMS code"),
            Key::NoCouponHere => (
                "这张优惠券不适用于本订单",
                "This coupon does not apply to this payment",
            ),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

/// The page's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Title,
    PayTo,
    Login,
    Phone,
    Password,
    LoginButton,
    Method,
    Balance,
    Coins,
    Credit,
    Card,
    Available,
    NotEnough,
    Coupon,
    NoCoupon,
    Off,
    PayPassword,
    PayButton,
    Paid,
    Processing,
    Back,
    Unavailable,
    NotFound,
    Expired,
    NoMethod,
    Choose,
    Secure,
    Confirm,
    SmsCode,
    NoCouponHere,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browsers_first_language_decides() {
        assert_eq!(Lang::from_header(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::from_header(Some("en-US,en;q=0.9,zh;q=0.8")), Lang::En);
        assert_eq!(Lang::from_header(Some("fr-FR,zh-TW;q=0.5")), Lang::Zh);
        assert_eq!(Lang::from_header(None), Lang::En);
        assert_eq!(Lang::Zh.t(Key::PayButton), "确认付款");
    }
}
