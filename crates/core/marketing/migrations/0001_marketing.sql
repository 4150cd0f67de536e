-- Marketing (营销): coupon templates and the coupons issued from them to members. A coupon is
-- used by one payment at most (a compare-and-set on its status), given back when that payment
-- is refunded in full or canceled, and expired by a job past its validity.
CREATE TABLE coupon_templates (
    id            {{ID}},
    template_id   TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    value         BIGINT NOT NULL,
    cap           BIGINT,
    threshold     BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    valid_days    BIGINT NOT NULL,
    merchant_id   TEXT,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE coupons (
    id            {{ID}},
    coupon_id     TEXT NOT NULL UNIQUE,
    template_id   TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    status        TEXT NOT NULL,
    valid_from    BIGINT NOT NULL,
    valid_until   BIGINT NOT NULL,
    payment_id    TEXT,
    used_at       BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX coupons_member ON coupons (member_id);
CREATE INDEX coupons_status ON coupons (status, valid_until);

CREATE TABLE coupon_history (
    id          {{ID}},
    coupon_id   TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX coupon_history_coupon ON coupon_history (coupon_id);
