//! The member platform over a real database (SQLite, or PostgreSQL by
//! PAYCORE_TEST_DATABASE_URL): logins, codes, pay passwords and their limits.

use std::sync::{Arc, Mutex};

use paycore_kernel::crypto::Vault;
use paycore_kernel::{Clock, Currency, IdGenerator, IdLayout, ManualClock, Money, Secret};
use paycore_member::{
    IdentityCheck, IdentityService, MemberConfig, MemberError, Members, SmsGateway, SmsPurpose,
};
use paycore_store::sequence::DbSequenceSource;
use paycore_store::testing::{self, TestDb};

/// The phone as a test sees it: the codes sent to it.
#[derive(Default)]
struct Inbox(Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl SmsGateway for Inbox {
    async fn send(&self, phone: &str, _message: &str, code: Option<&str>) -> Result<(), String> {
        let code = code.ok_or("no code")?.to_string();
        self.0.lock().unwrap().push((phone.to_string(), code));
        Ok(())
    }
}

impl Inbox {
    fn last(&self) -> String {
        self.0.lock().unwrap().last().unwrap().1.clone()
    }
}

struct Registry;

#[async_trait::async_trait]
impl IdentityService for Registry {
    async fn check(&self, name: &str, _id: &str) -> Result<IdentityCheck, String> {
        Ok(if name == "李四" {
            IdentityCheck::Mismatch
        } else {
            IdentityCheck::Matched
        })
    }
}

struct Env {
    _t: TestDb,
    members: Members,
    inbox: Arc<Inbox>,
    clock: Arc<ManualClock>,
}

async fn env() -> Env {
    let t = testing::migrated_with(&[&paycore_member::SCHEMA])
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2027-01-15 10:00 UTC),
    ));
    let ids = Arc::new(IdGenerator::new(
        IdLayout::default(),
        Arc::new(DbSequenceSource::new(t.db.clone())),
        clock.clone(),
    ));
    let inbox = Arc::new(Inbox::default());
    let config = MemberConfig {
        // Cheap hashes: the tests check behaviour, not cost.
        argon2_memory_kib: 64,
        argon2_passes: 1,
        ..MemberConfig::default()
    };
    let members = Members::new(
        t.db.clone(),
        ids,
        Vault::new(&Secret::new([5u8; 32])).unwrap(),
        clock.clone(),
        inbox.clone(),
        Arc::new(Registry),
        config,
    );
    Env {
        _t: t,
        members,
        inbox,
        clock,
    }
}

const PHONE: &str = "13800138000";

#[tokio::test]
async fn a_member_registers_logs_in_and_out_and_wrong_passwords_lock_the_login() {
    let e = env().await;
    let m = e
        .members
        .register("138 0013 8000", "secret123")
        .await
        .unwrap();
    assert_eq!(
        (m.phone.as_str(), m.masked_phone()),
        (PHONE, "138****8000".into())
    );
    assert!(matches!(
        e.members.register(PHONE, "another123").await,
        Err(MemberError::PhoneTaken)
    ));
    assert!(matches!(
        e.members.register("13900139000", "short1").await,
        Err(MemberError::Invalid(_))
    ));
    let t = e.members.login(PHONE, "secret123").await.unwrap();
    assert_eq!(
        e.members.session(&t.token).await.unwrap().member_id,
        m.member_id
    );
    e.members.logout(&t.token).await.unwrap();
    assert!(matches!(
        e.members.session(&t.token).await,
        Err(MemberError::Unauthenticated)
    ));
    // Tokens expire.
    let t = e.members.login(PHONE, "secret123").await.unwrap();
    e.clock.advance(time::Duration::seconds(2 * 3600 + 1));
    assert!(e.members.session(&t.token).await.is_err());
    // Five wrong passwords lock the login, even for the right one, until the lock ends.
    for _ in 0..5 {
        assert!(matches!(
            e.members.login(PHONE, "wrong1234").await,
            Err(MemberError::BadCredentials)
        ));
    }
    assert!(matches!(
        e.members.login(PHONE, "secret123").await,
        Err(MemberError::LoginLocked { .. })
    ));
    e.clock.advance(time::Duration::seconds(15 * 60));
    assert!(e.members.login(PHONE, "secret123").await.is_ok());
    assert!(matches!(
        e.members.login("13900139000", "secret123").await,
        Err(MemberError::BadCredentials)
    ));
}

#[tokio::test]
async fn codes_expire_allow_three_tries_are_used_once_and_are_rate_limited() {
    let e = env().await;
    e.members.register(PHONE, "secret123").await.unwrap();
    let purpose = SmsPurpose::PayPassword;
    e.members.send_code(PHONE, purpose).await.unwrap();
    assert!(matches!(
        e.members.send_code(PHONE, purpose).await,
        Err(MemberError::RateLimited(_))
    ));
    let code = e.inbox.last();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    // For another purpose the code is no good; the right one is used once.
    assert!(e
        .members
        .check_code(PHONE, SmsPurpose::Payment, &code)
        .await
        .is_err());
    assert!(e.members.check_code(PHONE, purpose, wrong).await.is_err());
    e.members.check_code(PHONE, purpose, &code).await.unwrap();
    assert!(
        e.members.check_code(PHONE, purpose, &code).await.is_err(),
        "used"
    );
    // Three wrong tries kill a code.
    e.clock.advance(time::Duration::seconds(61));
    e.members.send_code(PHONE, purpose).await.unwrap();
    let code = e.inbox.last();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..3 {
        assert!(e.members.check_code(PHONE, purpose, wrong).await.is_err());
    }
    assert!(
        e.members.check_code(PHONE, purpose, &code).await.is_err(),
        "tries used up"
    );
    // Five minutes later a code is dead.
    e.clock.advance(time::Duration::seconds(61));
    e.members.send_code(PHONE, purpose).await.unwrap();
    let code = e.inbox.last();
    e.clock.advance(time::Duration::seconds(301));
    assert!(
        e.members.check_code(PHONE, purpose, &code).await.is_err(),
        "expired"
    );
    // Ten a day.
    for _ in 0..7 {
        e.clock.advance(time::Duration::seconds(61));
        e.members.send_code(PHONE, purpose).await.unwrap();
    }
    e.clock.advance(time::Duration::seconds(61));
    assert!(matches!(
        e.members.send_code(PHONE, purpose).await,
        Err(MemberError::RateLimited(_))
    ));
}

async fn with_pay_password(e: &Env) -> String {
    let m = e.members.register(PHONE, "secret123").await.unwrap();
    e.members
        .send_code(PHONE, SmsPurpose::PayPassword)
        .await
        .unwrap();
    let code = e.inbox.last();
    assert!(matches!(
        e.members
            .set_pay_password(&m.member_id, "123456", &code)
            .await,
        Err(MemberError::Invalid(_))
    ));
    let m = e
        .members
        .set_pay_password(&m.member_id, "135790", &code)
        .await
        .unwrap();
    assert!(m.has_pay_password);
    m.member_id
}

#[tokio::test]
async fn five_wrong_pay_passwords_lock_it_even_when_guessed_in_parallel() {
    let e = env().await;
    let id = with_pay_password(&e).await;
    e.members.check_pay_password(&id, "135790").await.unwrap();
    // The right password, many times at once (parallel payments): all pass.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (m, id) = (e.members.clone(), id.clone());
        set.spawn(async move { m.check_pay_password(&id, "135790").await });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    // Twenty guesses at once: no more than five are looked at, then it is locked.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (m, id) = (e.members.clone(), id.clone());
        set.spawn(async move { m.check_pay_password(&id, &format!("2468{i:02}")).await });
    }
    let mut wrong = 0;
    let mut locked = 0;
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Err(MemberError::Verification(_)) => wrong += 1,
            Err(MemberError::PayPasswordLocked { .. }) => locked += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((wrong, locked), (4, 16), "the fifth wrong try locks");
    assert!(matches!(
        e.members.check_pay_password(&id, "135790").await,
        Err(MemberError::PayPasswordLocked { .. })
    ));
    e.clock.advance(time::Duration::seconds(3 * 3600));
    e.members.check_pay_password(&id, "135790").await.unwrap();
}

#[tokio::test]
async fn the_password_free_limit_and_the_real_name() {
    let e = env().await;
    let id = with_pay_password(&e).await;
    let cny = |minor| Money::from_minor(minor, Currency::CNY);
    let m = e.members.get(&id).await.unwrap();
    assert!(m.needs_pay_password(cny(1)), "no limit set: always asked");
    let m = e
        .members
        .set_password_free_limit(&id, cny(30_000))
        .await
        .unwrap();
    assert!(!m.needs_pay_password(cny(30_000)));
    assert!(m.needs_pay_password(cny(30_001)));
    assert!(m.needs_pay_password(Money::from_minor(100, Currency::USD)));
    assert!(e
        .members
        .set_password_free_limit(&id, cny(200_001))
        .await
        .is_err());
    assert!(e
        .members
        .set_password_free_limit(&id, Money::from_minor(100, Currency::USD))
        .await
        .is_err());
    // Real name: a number failing its check digit never reaches the service.
    assert!(matches!(
        e.members
            .verify_real_name(&id, "张三", "110105194912310021")
            .await,
        Err(MemberError::Invalid(_))
    ));
    assert!(matches!(
        e.members
            .verify_real_name(&id, "李四", "11010519491231002X")
            .await,
        Err(MemberError::Verification(_))
    ));
    let m = e
        .members
        .verify_real_name(&id, "张三", "11010519491231002X")
        .await
        .unwrap();
    assert!(m.real_name_verified);
    assert!(e
        .members
        .verify_real_name(&id, "张三", "11010519491231002X")
        .await
        .is_err());
    let _ = e.clock.unix_millis();
}
