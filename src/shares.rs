//! The share writer: group commit for the busiest write in the service.
//! RecordShare calls queue their shares here; one task writes whatever has
//! queued in a single transaction and answers every caller once the commit
//! is durable. Under load a batch grows to absorb the queue, so throughput
//! is bounded by the batch size, not by the cost of a commit.

use tokio::sync::{mpsc, oneshot};

use crate::{
    domain::share::{NewShare, ShareOutcome},
    error::Error,
    store::Store,
};

/// The most shares one transaction writes.
const MAX_BATCH: usize = 1_000;
/// Shares waiting beyond the batch being written; more callers wait to queue.
const QUEUE: usize = 10_000;

struct Pending {
    share: NewShare,
    reply: oneshot::Sender<Result<ShareOutcome, Error>>,
}

/// A handle to the share writer; cheap to clone. The writer stops once every
/// handle is dropped and the queue is empty.
#[derive(Debug, Clone)]
pub struct ShareWriter {
    queue: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("share", &self.share)
            .finish()
    }
}

impl ShareWriter {
    /// Starts the writer task on `store`.
    pub fn start(store: Store) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, receiver));
        Self { queue }
    }

    /// Records a share and answers once it is committed (or refused).
    pub async fn record(&self, share: NewShare) -> Result<ShareOutcome, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { share, reply })
            .await
            .map_err(|_| Error::Unavailable("the share writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the share writer stopped before answering".into()))?
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A caller that gave up while its share waited (deadline,
        // disconnect) was never told it counted: its share is not written.
        let (shares, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .filter(|pending| !pending.reply.is_closed())
            .map(|pending| (pending.share, pending.reply))
            .unzip();
        let count = shares.len();
        if count == 0 {
            continue;
        }
        match store.record_shares(shares).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A caller that gave up during the commit is not told;
                    // its share is committed all the same.
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                // Nothing in the batch was committed: every caller hears why
                // (each error logs once more as it is answered).
                tracing::warn!(%error, count, "writing a batch of shares failed");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}
