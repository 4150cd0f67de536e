//! The cashier page's HTML: one server-rendered page, no script. The merchant's name (never its
//! id) and the amount, large and exact, on top; then the login form, or the methods the payer
//! can use now with what each has available, a coupon choice and the pay password; errors
//! beside the field they concern. Readable from a phone's width to a desktop's.

use paycore_cashier::Methods;
use paycore_kernel::Money;

use super::text::{Key, Lang};

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn symbol(m: Money) -> &'static str {
    match m.currency().code() {
        "CNY" => "¥",
        "USD" => "$",
        _ => "",
    }
}

const STYLE: &str =
    "*{box-sizing:border-box}body{margin:0;font-family:-apple-system,'PingFang SC',\
'Microsoft YaHei','Segoe UI',Roboto,sans-serif;background:#f2f4f7;color:#1d2129}\
main{max-width:480px;margin:0 auto;padding:16px}\
.card{background:#fff;border-radius:12px;padding:20px;margin-bottom:16px;\
box-shadow:0 1px 3px rgba(0,0,0,.08)}\
.merchant{font-size:15px;color:#4e5969}.merchant b{color:#1d2129}\
.subject{font-size:14px;color:#86909c;margin-top:4px}\
.amount{font-size:40px;font-weight:600;margin:12px 0 0;letter-spacing:.5px}\
.amount small{font-size:22px;margin-right:2px}\
h2{font-size:16px;margin:0 0 12px}\
label.opt{display:flex;align-items:center;gap:10px;padding:12px;border:1px solid #e5e6eb;\
border-radius:8px;margin-bottom:8px}label.opt.off{color:#c9cdd4}\
.avail{margin-left:auto;font-size:13px;color:#86909c}\
input[type=text],input[type=password],input[type=tel],select{width:100%;padding:12px;\
font-size:16px;border:1px solid #c9cdd4;border-radius:8px;margin-top:6px}\
.field{margin-bottom:14px}.err{color:#d83931;font-size:13px;margin-top:6px}\
button{width:100%;padding:14px;font-size:17px;border:0;border-radius:8px;background:#1677ff;\
color:#fff}a.button{display:block;text-align:center;padding:14px;border-radius:8px;\
background:#1677ff;color:#fff;text-decoration:none}\
.ok{font-size:22px;color:#00a870;margin:0 0 8px}.foot{text-align:center;font-size:12px;\
color:#86909c}@media(min-width:900px){main{max-width:560px;padding-top:48px}}";

/// The page around `body`.
pub(crate) fn layout(lang: Lang, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}\
         <p class=\"foot\">{}</p></main></body></html>",
        lang.code(),
        lang.t(Key::Title),
        lang.t(Key::Secure),
    )
}

/// The merchant, the subject and the amount.
pub(crate) fn header(lang: Lang, merchant: &str, subject: &str, amount: Money) -> String {
    format!(
        "<section class=\"card\"><div class=\"merchant\">{} <b id=\"merchant\">{}</b></div>\
         <div class=\"subject\">{}</div><p class=\"amount\" id=\"amount\"><small>{}</small>{}</p>\
         </section>",
        lang.t(Key::PayTo),
        esc(merchant),
        esc(subject),
        symbol(amount),
        amount.to_major_string(),
    )
}

/// An error beside its field (`id`: `err-{field}`).
fn error(field: &str, msg: Option<&str>) -> String {
    msg.map(|m| {
        format!(
            "<div class=\"err\" id=\"err-{field}\" role=\"alert\">{}</div>",
            esc(m)
        )
    })
    .unwrap_or_default()
}

/// The login form (phone and password).
pub(crate) fn login(lang: Lang, payment_id: &str, csrf: &str, err: Option<&str>) -> String {
    format!(
        "<section class=\"card\"><h2>{}</h2><form method=\"post\" action=\"/cashier/{pid}/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"field\"><label>{}<input type=\"tel\" name=\"phone\" id=\"phone\" \
         autocomplete=\"tel\" required></label></div>\
         <div class=\"field\"><label>{}<input type=\"password\" name=\"password\" id=\"password\" \
         autocomplete=\"current-password\" required></label>{}</div>\
         <button type=\"submit\" id=\"login\">{}</button></form></section>",
        lang.t(Key::Login),
        lang.t(Key::Phone),
        lang.t(Key::Password),
        error("login", err),
        lang.t(Key::LoginButton),
        pid = esc(payment_id),
        csrf = esc(csrf),
    )
}

/// What went wrong, by the field it concerns.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub form: Option<String>,
    pub method: Option<String>,
    pub coupon: Option<String>,
    pub pay_password: Option<String>,
}

/// One method choice: its value, its label, what it has available, and whether it can pay
/// the whole amount alone.
struct Choice {
    value: String,
    label: String,
    available: Option<Money>,
    enough: bool,
}

fn choices(lang: Lang, m: &Methods) -> Vec<Choice> {
    let amount = m.payment.amount;
    let enough = |a: Money| a.minor() >= amount.minor();
    let mut out = Vec::new();
    // Only what can pay now: an empty balance, no coins or no credit line is left out.
    let mut push = |value: &str, label: String, available: Option<Money>, ok: bool| {
        if available.is_some_and(|a| !a.is_positive()) {
            return;
        }
        out.push(Choice {
            value: value.into(),
            label,
            available,
            enough: ok,
        })
    };
    if let Some(b) = m.balance {
        push("BALANCE", lang.t(Key::Balance).into(), Some(b), enough(b));
    }
    if let Some((_, worth)) = m.coins {
        push(
            "COIN",
            lang.t(Key::Coins).into(),
            Some(worth),
            enough(worth),
        );
    }
    if let Some(c) = m.credit {
        push("CREDIT", lang.t(Key::Credit).into(), Some(c), enough(c));
    }
    for c in &m.cards {
        let label = format!("{} {} {}", c.bank, lang.t(Key::Card), c.masked_pan);
        push(&format!("CARD:{}", c.card_id), label, None, true);
    }
    out
}

/// The methods form: a method, a coupon, the pay password.
pub(crate) fn methods(
    lang: Lang,
    m: &Methods,
    csrf: &str,
    request_no: &str,
    errors: &Errors,
) -> String {
    let options: String = choices(lang, m)
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let avail = c.available.map_or(String::new(), |a| {
                let more = if c.enough { "" } else { lang.t(Key::NotEnough) };
                format!(
                    "<span class=\"avail\">{} {}{} {more}</span>",
                    lang.t(Key::Available),
                    symbol(a),
                    a.to_major_string()
                )
            });
            format!(
                "<label class=\"opt\"><input type=\"radio\" name=\"method\" value=\"{v}\" \
                 id=\"method-{v}\"{}> {}{avail}</label>",
                if i == 0 { " checked" } else { "" },
                esc(&c.label),
                v = esc(&c.value),
            )
        })
        .collect();
    let coupons = coupon_select(lang, m, errors.coupon.as_deref());
    let body = match options.is_empty() {
        true => format!("<p>{}</p>", lang.t(Key::NoMethod)),
        false => format!(
            "<form method=\"post\" action=\"/cashier/{pid}/pay\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"request_no\" value=\"{rn}\">{}\
             <div class=\"field\"><h2>{}</h2>{options}{}</div>{coupons}\
             <div class=\"field\"><label>{}<input type=\"password\" name=\"pay_password\" \
             id=\"pay_password\" inputmode=\"numeric\" maxlength=\"6\" \
             autocomplete=\"off\"></label>{}</div>\
             <button type=\"submit\" id=\"pay\">{}</button></form>",
            error("form", errors.form.as_deref()),
            lang.t(Key::Method),
            error("method", errors.method.as_deref()),
            lang.t(Key::PayPassword),
            error("pay_password", errors.pay_password.as_deref()),
            lang.t(Key::PayButton),
            pid = esc(&m.payment.payment_id),
            csrf = esc(csrf),
            rn = esc(request_no),
        ),
    };
    format!("<section class=\"card\">{body}</section>")
}

fn coupon_select(lang: Lang, m: &Methods, err: Option<&str>) -> String {
    if m.coupons.is_empty() {
        return error("coupon", err);
    }
    let opts: String = m
        .coupons
        .iter()
        .map(|c| {
            format!(
                "<option value=\"{}\">{} {}{}</option>",
                esc(&c.coupon_id),
                lang.t(Key::Off),
                symbol(c.discount),
                c.discount.to_major_string()
            )
        })
        .collect();
    format!(
        "<div class=\"field\"><label>{}<select name=\"coupon\" id=\"coupon\">\
         <option value=\"\">{}</option>{opts}</select></label>{}</div>",
        lang.t(Key::Coupon),
        lang.t(Key::NoCoupon),
        error("coupon", err),
    )
}

/// The step-up form: the SMS code sent for this payment.
pub(crate) fn verify(lang: Lang, payment_id: &str, csrf: &str, err: Option<&str>) -> String {
    format!(
        "<section class=\"card\"><h2>{}</h2><form method=\"post\" action=\"/cashier/{pid}/verify\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <div class=\"field\"><label>{}<input type=\"text\" name=\"sms_code\" id=\"sms_code\" \
         inputmode=\"numeric\" maxlength=\"6\" autocomplete=\"one-time-code\" required></label>{}</div>\
         <button type=\"submit\" id=\"verify\">{}</button></form></section>",
        lang.t(Key::Confirm),
        lang.t(Key::SmsCode),
        error("sms_code", err),
        lang.t(Key::PayButton),
        pid = esc(payment_id),
        csrf = esc(csrf),
    )
}

/// The result: paid (or processing), with the way back to the merchant.
pub(crate) fn result(lang: Lang, paid: bool, back: Option<&str>) -> String {
    let words = if paid {
        lang.t(Key::Paid)
    } else {
        lang.t(Key::Processing)
    };
    let link = back.map_or(String::new(), |u| {
        format!(
            "<a class=\"button\" id=\"back\" href=\"{}\">{}</a>",
            esc(u),
            lang.t(Key::Back)
        )
    });
    format!("<section class=\"card\"><p class=\"ok\" id=\"result\">{words}</p>{link}</section>")
}

/// A page with one message (the payment cannot be paid here).
pub(crate) fn message(text: &str, back: Option<&str>, lang: Lang) -> String {
    let link = back.map_or(String::new(), |u| {
        format!(
            "<a class=\"button\" id=\"back\" href=\"{}\">{}</a>",
            esc(u),
            lang.t(Key::Back)
        )
    });
    format!(
        "<section class=\"card\"><p id=\"message\">{}</p>{link}</section>",
        esc(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">'"), "&lt;a href=&quot;x&quot;&gt;&#39;");
    }
}
