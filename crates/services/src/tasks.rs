//! The one task-kind registry: every kind Castellan runs, its typed payload (from
//! `castellan_domain::tasks`) and its handler. A new kind gets a payload type in the domain
//! and one line here; the queue and the worker need nothing else.

use std::time::Duration;

use castellan_domain::tasks::{
    AccountRotate, AppCheck, AppConnect, EmailSend, GroupRemovals, GroupSync, MembersChange, Noop,
    PartnerChangeTask, Sleep, TaskFailure,
};

use crate::Services;
use crate::worker::{HandlerResult, Registry, TaskContext};

/// Every kind with its handler, over `svc`.
pub fn registry(svc: &Services) -> Registry {
    let mut r = Registry::empty();
    r.register_typed(|ctx, _: Noop| async move {
        Ok(serde_json::json!({ "ok": true, "worker": ctx.worker() }))
    });
    r.register_typed(sleep);
    let s = svc.clone();
    r.register_typed(move |ctx, p: AppConnect| crate::apps::connect(ctx, s.clone(), p.app_id));
    let s = svc.clone();
    r.register_typed(move |ctx, p: AppCheck| crate::apps::check(ctx, s.clone(), p.app_id, p.full));
    let s = svc.clone();
    r.register_typed(move |ctx, p: MembersChange| crate::members::change(ctx, s.clone(), p));
    let s = svc.clone();
    r.register_typed(move |ctx, p: PartnerChangeTask| {
        crate::partnership::change(ctx, s.clone(), p)
    });
    let s = svc.clone();
    r.register_typed(move |ctx, p: AccountRotate| crate::rotation::rotate_task(ctx, s.clone(), p));
    let s = svc.clone();
    r.register_typed(move |ctx, p: EmailSend| crate::mail::send_task(ctx, s.clone(), p));
    let s = svc.clone();
    r.register_typed(move |ctx, p: GroupRemovals| {
        crate::group_mappings::removals_task(ctx, s.clone(), p)
    });
    let s = svc.clone();
    r.register_typed(move |ctx, _: GroupSync| crate::group_mappings::sync_task(ctx, s.clone()));
    r
}

/// `system.sleep`: waits in small steps, reporting progress and honouring cancellation. Used
/// to exercise leases, shutdown and cancellation end to end.
async fn sleep(ctx: TaskContext, p: Sleep) -> HandlerResult {
    let total = p.ms;
    let step = 100u64;
    let mut done = 0;
    while done < total {
        if ctx.is_cancelled() {
            return Err(TaskFailure::Permanent("cancelled".into()));
        }
        let d = step.min(total - done);
        tokio::time::sleep(Duration::from_millis(d)).await;
        done += d;
        ctx.progress(done as i64, Some(total as i64), "sleeping")
            .await;
    }
    Ok(serde_json::json!({ "slept_ms": total }))
}
