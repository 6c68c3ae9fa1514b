//! The harness leaves no browser behind: a test's Chromium and chromedriver are gone when the
//! test ends, whether it closed its session, simply ended or panicked.

use std::time::Duration;

use crate::harness::{Browser, alive, browser_available, descendants};

/// The browser processes below a session's driver (there is at least one Chromium).
fn browsers_of(b: &Browser) -> (u32, Vec<u32>) {
    let driver = b.driver_pid();
    let tree = descendants(driver);
    let chromium = tree.iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains("chromium"))
    });
    assert!(
        chromium,
        "no Chromium below chromedriver {driver}: {tree:?}"
    );
    (driver, tree)
}

async fn assert_gone(driver: u32, tree: &[u32]) {
    for _ in 0..50 {
        if !alive(driver) && tree.iter().all(|p| !alive(*p)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<u32> = tree.iter().copied().filter(|p| alive(*p)).collect();
    panic!("processes left behind by the browser harness: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_browser_outlives_its_test() {
    if !browser_available() {
        return;
    }
    // Closed properly.
    let b = Browser::start(false).await;
    let (driver, tree) = browsers_of(&b);
    b.close().await;
    assert_gone(driver, &tree).await;

    // Dropped without closing (a test that returns early).
    let b = Browser::start(false).await;
    let (driver, tree) = browsers_of(&b);
    drop(b);
    assert_gone(driver, &tree).await;

    // A test that panics with its browser open.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let failed = tokio::spawn(async move {
        let b = Browser::start(false).await;
        tx.send(browsers_of(&b)).unwrap();
        panic!("a failing story");
    })
    .await;
    assert!(failed.is_err());
    let (driver, tree) = rx.await.unwrap();
    assert_gone(driver, &tree).await;
}
