//! The sink of a fetch floor: what a fetch yields, counted and thrown away.

/// Counts what a fetch yields and throws it away: the floor a check cannot beat.
pub(crate) struct Discard(pub(crate) u64);

impl castellan_domain::platform::SnapshotSink for Discard {
    fn accept(
        &mut self,
        batch: castellan_domain::platform::Batch,
    ) -> castellan_domain::platform::BoxFuture<'_, Result<(), castellan_domain::platform::SinkError>>
    {
        use castellan_domain::platform::Batch;
        self.0 += match &batch {
            Batch::Seats(v) => v.len(),
            Batch::Assets(v) => v.len(),
            Batch::Grants(v) => v.len(),
            Batch::Partners(v) => v.len(),
            Batch::Kept(_) => 0,
        } as u64;
        Box::pin(async { Ok(()) })
    }
}
