//! Castellan's platform connectors. Each platform module has its HTTP calls, its wire types
//! (read as JSON), and the mapping to the domain's platform-neutral records; both implement
//! `castellan_domain::platform::Connector`. Defaults point at the real API hosts; the base
//! URL is configuration, which is how tests and the demo use the emulators.

pub mod http;
pub mod oauth;
pub mod pinterest;
pub mod tiktok;

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
    }
    sink.accept(batch)
        .await
        .map_err(castellan_domain::platform::ConnectorError::Sink)
}
