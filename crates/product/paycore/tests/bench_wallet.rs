//! `paycore bench wallet` runs end to end (a short run, few clients): every balance payment
//! of both phases succeeds, the ceiling answers, and the report judges the targets.

use paycore::bench_api::LoadConfig;
use paycore::bench_wallet::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_benchmark_pays_without_errors() {
    let cfg = LoadConfig {
        seconds: 1,
        concurrency: 4,
        merchants: 2,
    };
    let r = run(&cfg).await.unwrap();
    for p in [&r.spread, &r.hot, &r.ceiling] {
        assert!(
            p.requests > 0 && p.errors == 0,
            "{}: {:?}",
            p.name,
            p.error_samples
        );
    }
    assert!(r.share_of_ceiling > 0.0);
    assert_eq!(r.targets_met, r.missed.is_empty());
    let text = r.to_text();
    assert!(
        text.contains("1 hot merchant") && text.contains("ceiling"),
        "{text}"
    );
}
