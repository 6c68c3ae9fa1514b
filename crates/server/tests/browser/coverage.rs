//! TikTok's coverage window as a person sees it: the report says what the check read and what
//! it kept, kept assets show how old their holders are, and *Full check* reads everything.

use crate::harness::{Browser, Site, browser_available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coverage_window_is_shown_and_a_full_check_reads_everything() {
    if !browser_available() {
        return;
    }
    let site = Site::start_tuned(|svc| {
        svc.coverage = castellan_services::Coverage {
            tiktok: castellan_services::CoverageWindow {
                window: 3,
                min_per_check: 1,
            },
        }
    })
    .await;
    let app = site.connect_api("tiktok").await;
    // The connection's check read everything; the next one keeps two thirds.
    let done = site.check(&app).await;
    assert!(
        done["result"]["fetch"]["holders_kept"].as_u64().unwrap() > 0,
        "{done}"
    );
    // Dark first: the light run ends with a full check.
    for dark in [true, false] {
        let b = Browser::start(dark).await;
        site.sign_in(&b, dark).await;
        let suffix = if dark { "-dark" } else { "" };
        b.goto(&site.url(&format!("/apps/{app}/reports"))).await;
        let text = b.wait_text("Coverage window", false).await;
        assert!(
            text.contains("Coverage window: read the holders of 2 assets; kept 4 assets' holders and 1 partner's shared assets as earlier checks read them"),
            "{text}"
        );
        assert!(text.contains("A full check reads them all."), "{text}");
        b.assert_no_axe("reports with a coverage window").await;
        b.screenshot(&format!("60-coverage-report{suffix}")).await;
        b.goto(&site.url(&format!("/apps/{app}/assets"))).await;
        let text = b.wait_text("Holders as read on", false).await;
        assert_eq!(text.matches("Holders as read on").count(), 4, "{text}");
        b.assert_no_axe("assets with kept holders").await;
        b.screenshot(&format!("61-coverage-assets{suffix}")).await;
        if !dark {
            // Full check: the flash says so, and the check reads every asset.
            b.click_text("Full check").await;
            let flash = b.wait_text("every asset and partner in full", false).await;
            assert!(flash.contains("for updates, every asset and partner in full"));
            b.goto(&site.url(&format!("/apps/{app}/assets"))).await;
            let mut read_all = false;
            for _ in 0..100 {
                let text = b.text().await;
                if !text.contains("Holders as read on") {
                    read_all = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                b.goto(&site.url(&format!("/apps/{app}/assets"))).await;
            }
            assert!(read_all, "a full check leaves no kept holders");
            b.screenshot("62-coverage-after-full-check").await;
        }
        b.close().await;
    }
}
