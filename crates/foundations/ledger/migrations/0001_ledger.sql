-- Ledger and accounting center (L1–L10): subjects, accounts, vouchers and their entries,
-- posting rules, holds, buffered flows of hot accounts, accounting days and day-end summaries.
-- Amounts are BIGINT minor units next to a currency code; days are BIGINT yyyyMMdd.

-- Chart of accounts (会计科目), three levels: element (1 digit), general (4), detail (6).
CREATE TABLE ledger_subjects (
    code        TEXT PRIMARY KEY,
    parent_code TEXT,
    level       BIGINT NOT NULL,
    element     TEXT NOT NULL,          -- asset | liability | equity | income | expense
    normal_side TEXT NOT NULL,          -- D | C
    name        TEXT NOT NULL,          -- as the articles call it
    name_en     TEXT NOT NULL           -- CamelCase, used for exported account names
);

INSERT INTO ledger_subjects (code, parent_code, level, element, normal_side, name, name_en) VALUES
 ('1', NULL, 1, 'asset', 'D', '资产', 'Assets'),
 ('1002', '1', 2, 'asset', 'D', '银行存款', 'Bank'),
 ('100201', '1002', 3, 'asset', 'D', '银行存款-备付金头寸', 'Position'),
 ('1122', '1', 2, 'asset', 'D', '应收账款', 'Receivable'),
 ('112201', '1122', 3, 'asset', 'D', '应收-渠道', 'ChannelReceivable'),
 ('112202', '1122', 3, 'asset', 'D', '应收-渠道已清算', 'ChannelCleared'),
 ('112203', '1122', 3, 'asset', 'D', '应收-会员信用', 'MemberCredit'),
 ('2', NULL, 1, 'liability', 'C', '负债', 'Liabilities'),
 ('2202', '2', 2, 'liability', 'C', '应付-过渡', 'Transit'),
 ('220201', '2202', 3, 'liability', 'C', '应付-过渡-网关过渡户', 'GatewayTransit'),
 ('220202', '2202', 3, 'liability', 'C', '应付-过渡-提现过渡户', 'WithdrawalTransit'),
 ('220203', '2202', 3, 'liability', 'C', '应付-过渡-结算过渡户', 'SettlementTransit'),
 ('220204', '2202', 3, 'liability', 'C', '应付-过渡-退款过渡户', 'RefundTransit'),
 ('2241', '2', 2, 'liability', 'C', '应付-平台托管', 'Custody'),
 ('224101', '2241', 3, 'liability', 'C', '应付-平台托管-商户待结算', 'MerchantPending'),
 ('224102', '2241', 3, 'liability', 'C', '应付-平台托管-商户余额', 'MerchantBalance'),
 ('224103', '2241', 3, 'liability', 'C', '应付-平台托管-会员余额', 'MemberBalance'),
 ('224104', '2241', 3, 'liability', 'C', '应付-平台托管-会员虚币', 'MemberCoins'),
 ('3', NULL, 1, 'equity', 'C', '所有者权益', 'Equity'),
 ('3001', '3', 2, 'equity', 'C', '实收资本', 'Capital'),
 ('300101', '3001', 3, 'equity', 'C', '实收资本-平台', 'Platform'),
 ('300102', '3001', 3, 'equity', 'C', '虚币发行', 'CoinIssuance'),
 ('5', NULL, 1, 'income', 'C', '收入', 'Income'),
 ('6001', '5', 2, 'income', 'C', '手续费收入', 'Fees'),
 ('600101', '6001', 3, 'income', 'C', '手续费收入-商户-消费', 'MerchantConsumption'),
 ('600102', '6001', 3, 'income', 'C', '手续费收入-商户-提现', 'MerchantWithdrawal'),
 ('6051', '5', 2, 'income', 'C', '汇兑收益', 'FxGain'),
 ('605101', '6051', 3, 'income', 'C', '汇兑收益-换汇', 'Conversion'),
 ('6', NULL, 1, 'expense', 'D', '费用', 'Expenses'),
 ('6401', '6', 2, 'expense', 'D', '渠道成本', 'ChannelCost'),
 ('640101', '6401', 3, 'expense', 'D', '渠道成本-手续费', 'ChannelFees'),
 ('6603', '6', 2, 'expense', 'D', '营业外支出', 'Losses'),
 ('660301', '6603', 3, 'expense', 'D', '营业外支出-差错与拒付', 'ErrorsAndChargebacks'),
 ('660302', '6603', 3, 'expense', 'D', '营业外支出-营销', 'Marketing');

CREATE TABLE ledger_accounts (
    id              {{ID}},
    account_no      TEXT NOT NULL UNIQUE,   -- business key
    subject_code    TEXT NOT NULL,
    owner           TEXT NOT NULL,          -- merchant/member id, channel or bank code, '' = platform
    sub_no          BIGINT NOT NULL,        -- 0 = main; 1..n = split sub-accounts of a hot account
    parent_id       BIGINT,                 -- main account of a sub-account
    split_count     BIGINT NOT NULL,        -- >0: legs go to one of this many sub-accounts
    kind            TEXT NOT NULL,          -- customer | internal
    currency        TEXT NOT NULL,          -- ISO 4217 code or ledger asset (e.g. a coin)
    normal_side     TEXT NOT NULL,          -- D | C, from the subject
    status          TEXT NOT NULL,          -- active | frozen | closed
    overdraft       TEXT NOT NULL,          -- none | limit | unbounded
    overdraft_limit BIGINT NOT NULL,
    buffered        BIGINT NOT NULL,        -- 1: increases are written as flows, summarized later
    debits          BIGINT NOT NULL,        -- posted totals since opening
    credits         BIGINT NOT NULL,
    debits_pending  BIGINT NOT NULL,        -- held, not yet captured or released
    credits_pending BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    created_day     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (subject_code, owner, currency, sub_no)
);

CREATE TABLE ledger_account_history (
    id          {{ID}},
    account_id  BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    at          BIGINT NOT NULL
);

-- Posting rules (记账方案) as loaded from the versioned rules file.
CREATE TABLE ledger_rules (
    tx_code     TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    description TEXT NOT NULL,
    legs        TEXT NOT NULL           -- JSON
);

-- One row per commit of the posting engine; its vouchers are hash-chained from here.
CREATE TABLE ledger_batches (
    id         {{ID}},
    day        BIGINT NOT NULL,
    vouchers   BIGINT NOT NULL,
    head_hash  TEXT NOT NULL,           -- hash of the last voucher of the batch
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_batches_day ON ledger_batches (day);

CREATE TABLE ledger_vouchers (
    id         {{ID}},
    voucher_no TEXT NOT NULL UNIQUE,    -- the caller's business id: posting is idempotent by it
    tx_code    TEXT NOT NULL,
    day        BIGINT NOT NULL,         -- accounting day when it committed
    biz_ref    TEXT NOT NULL,           -- the business object (payment, payout, hold …)
    status     TEXT NOT NULL,           -- posted | failed
    error      TEXT,                    -- JSON of the refusal, for failed vouchers
    batch_id   BIGINT NOT NULL,
    seq        BIGINT NOT NULL,         -- position in the batch's hash chain
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_vouchers_batch ON ledger_vouchers (batch_id, seq);
CREATE INDEX ledger_vouchers_day ON ledger_vouchers (day);

CREATE TABLE ledger_entries (
    id         {{ID}},
    voucher_id BIGINT NOT NULL,
    leg        BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    side       TEXT NOT NULL,           -- D | C
    amount     BIGINT NOT NULL,         -- > 0
    day        BIGINT NOT NULL
);
CREATE INDEX ledger_entries_voucher ON ledger_entries (voucher_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
-- By day alone: new entries append at the end of it (day-end groups them by account itself).
CREATE INDEX ledger_entries_day ON ledger_entries (day);

-- Buffered flows (缓冲记账): written with the entry, applied to the balance by the summarizer,
-- which deletes them in the same transaction — so each flow is applied exactly once.
CREATE TABLE ledger_flows (
    id         {{ID}},
    account_id BIGINT NOT NULL,
    side       TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    day        BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_flows_account ON ledger_flows (account_id);

CREATE TABLE ledger_holds (
    id                {{ID}},
    hold_no           TEXT NOT NULL UNIQUE,
    debit_account_id  BIGINT NOT NULL,
    credit_account_id BIGINT NOT NULL,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL,    -- pending | captured | voided | expired
    captured          BIGINT NOT NULL,
    capture_voucher   TEXT,
    expires_at        BIGINT NOT NULL,  -- ledger clock, unix millis
    biz_ref           TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX ledger_holds_due ON ledger_holds (status, expires_at);

-- The accounting day (会计日): one row, switched by day-end.
CREATE TABLE ledger_state (
    id          BIGINT PRIMARY KEY,
    current_day BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE ledger_day_ends (
    day          BIGINT PRIMARY KEY,
    status       TEXT NOT NULL,         -- switched | failed | closed
    batch_digest TEXT,                  -- seal over the day's batch hashes
    report       TEXT,                  -- JSON
    updated_at   BIGINT NOT NULL
);

CREATE TABLE ledger_account_days (
    day        BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    opening    BIGINT NOT NULL,         -- normal-side balances
    debits     BIGINT NOT NULL,
    credits    BIGINT NOT NULL,
    closing    BIGINT NOT NULL,
    PRIMARY KEY (day, account_id)
);

-- Subject summaries: period D (day), M, Q, Y; period_key yyyyMMdd, yyyyMM, yyyyQ, yyyy.
CREATE TABLE ledger_subject_summaries (
    period       TEXT NOT NULL,
    period_key   BIGINT NOT NULL,
    subject_code TEXT NOT NULL,
    currency     TEXT NOT NULL,
    opening      BIGINT NOT NULL,
    debits       BIGINT NOT NULL,
    credits      BIGINT NOT NULL,
    closing      BIGINT NOT NULL,
    PRIMARY KEY (period, period_key, subject_code, currency)
);
