-- Channel routing (渠道路由): one configuration row per channel, monthly volumes for cost tiers,
-- and the channel a payer last succeeded on (stickiness).

-- Routing (渠道路由): one row per channel.
CREATE TABLE channel_configs (
    id            {{ID}},
    channel       TEXT NOT NULL UNIQUE,
    enabled       BIGINT NOT NULL,            -- 1 = switched on
    products      TEXT NOT NULL,              -- comma list of API product names
    currencies    TEXT NOT NULL,              -- comma list of ISO codes
    amount_limits TEXT NOT NULL,              -- JSON {"CNY": {"min": 1, "max": 5000000}}
    fee_rate_bps  BIGINT NOT NULL,
    fixed_fee     BIGINT NOT NULL,            -- minor units of fee_currency
    fee_currency  TEXT NOT NULL,
    fee_tiers     TEXT NOT NULL,              -- JSON [{"from_volume": minor, "rate_bps": n}]
    weight        BIGINT NOT NULL,
    priority      BIGINT NOT NULL,            -- higher is tried first
    merchants     TEXT NOT NULL,              -- comma list of merchant ids; empty = every merchant
    updated_at    BIGINT NOT NULL
);

-- Monthly volume per channel and currency (cost tiers).
CREATE TABLE channel_volumes (
    id       {{ID}},
    channel  TEXT NOT NULL,
    month    BIGINT NOT NULL,                 -- yyyyMM
    currency TEXT NOT NULL,
    volume   BIGINT NOT NULL,                 -- minor units
    txns     BIGINT NOT NULL,
    UNIQUE (channel, month, currency)
);

-- Stickiness: the channel a payer last succeeded on.
CREATE TABLE channel_payer_affinity (
    id         {{ID}},
    payer_key  TEXT NOT NULL UNIQUE,
    channel    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
