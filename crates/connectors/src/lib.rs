//! Castellan's platform connectors. Each platform module has its HTTP calls, its wire types
//! (read as JSON), and the mapping to the domain's platform-neutral records; both implement
//! `castellan_domain::platform::Connector`. Defaults point at the real API hosts; the base
//! URL is configuration, which is how tests and the demo use the emulators.

pub mod http;
pub mod oauth;
pub mod pinterest;
pub mod tiktok;
mod wire;

pub use http::HttpConfig;
pub use pinterest::{PinterestConfig, PinterestConnector};
pub use tiktok::{TiktokConfig, TiktokConnector};

/// Counts a batch in the fetch's stats and sends it to the sink, mapping its refusal.
pub(crate) async fn push(
    sink: &mut dyn castellan_domain::platform::SnapshotSink,
    stats: &mut castellan_domain::platform::FetchStats,
    batch: castellan_domain::platform::Batch,
) -> Result<(), castellan_domain::platform::ConnectorError> {
    use castellan_domain::platform::Batch;
    match &batch {
        Batch::Seats(s) => stats.seats += s.len() as u64,
        Batch::Assets(a) => stats.assets += a.len() as u64,
        Batch::Grants(g) => stats.grants += g.len() as u64,
        Batch::Partners(p) => stats.partners += p.len() as u64,
        Batch::Kept(_) => {}
    }
    sink.accept(batch)
        .await
        .map_err(castellan_domain::platform::ConnectorError::Sink)
}

/// What a connector sees of a change's target: whether it already shows the change, and the
/// seat and grant as they are.
pub(crate) type Observed = (
    bool,
    Option<castellan_domain::platform::SeatRecord>,
    Option<castellan_domain::platform::GrantRecord>,
);

/// The write algorithm every connector shares: look first (what is already so makes no call),
/// make the calls (given the seat as seen), and judge by what the platform shows afterwards.
/// A refusal after an earlier attempt went unanswered is a success if the platform shows the
/// change; a call the platform accepted but does not show is an error.
pub(crate) async fn apply_checked<'a, O, C, Fut>(
    observe: O,
    call: C,
) -> Result<castellan_domain::platform::Applied, castellan_domain::platform::ConnectorError>
where
    O: Fn() -> castellan_domain::platform::BoxFuture<
        'a,
        Result<Observed, castellan_domain::platform::ConnectorError>,
    >,
    C: FnOnce(Option<castellan_domain::platform::SeatRecord>) -> Fut,
    Fut: std::future::Future<Output = Result<(), castellan_domain::platform::ConnectorError>>,
{
    use castellan_domain::platform::{Applied, ConnectorError};
    let (done, seat, grant) = observe().await?;
    if done {
        return Ok(Applied {
            already: true,
            seat,
            grant,
        });
    }
    if let Err(e) = call(seat).await {
        if e.is_retryable() {
            return Err(e);
        }
        let (done, seat, grant) = observe().await?;
        return if done {
            Ok(Applied {
                already: false,
                seat,
                grant,
            })
        } else {
            Err(e)
        };
    }
    let (done, seat, grant) = observe().await?;
    if !done {
        return Err(ConnectorError::Protocol(
            "the platform accepted the change but does not show it".into(),
        ));
    }
    Ok(Applied {
        already: false,
        seat,
        grant,
    })
}
