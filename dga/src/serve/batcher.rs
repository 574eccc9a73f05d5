//! Micro-batching: small requests that arrive while the model is busy are scored together, in
//! one pass per batch, which costs less per name than a pass each. Nothing waits for a timer:
//! a request arriving at an idle server is scored at once, alone.

use std::sync::Arc;
use std::sync::mpsc;

use model_core::{Detector, Verdict};
use tokio::sync::oneshot;

use crate::CpuBackend;
use crate::lines::Line;
use crate::scoring::score_lines;

/// Requests of at most this many names go through the batcher; bigger ones are batches already.
pub const SMALL_REQUEST: usize = 32;
/// Most names scored in one pass of the batcher.
const MAX_BATCH: usize = 256;

struct Pending {
    lines: Vec<Line>,
    reply: oneshot::Sender<Vec<Verdict>>,
}

/// The queue to the batching thread.
pub struct Batcher {
    queue: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the thread that scores queued requests together.
    pub fn start(detector: Arc<Detector<CpuBackend>>) -> Self {
        let (queue, pending) = mpsc::channel::<Pending>();
        std::thread::spawn(move || {
            while let Ok(first) = pending.recv() {
                let mut batch = vec![first];
                let mut names = batch[0].lines.len();
                while names < MAX_BATCH {
                    match pending.try_recv() {
                        Ok(next) => {
                            names += next.lines.len();
                            batch.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let sizes: Vec<usize> = batch.iter().map(|p| p.lines.len()).collect();
                let lines: Vec<Line> = batch
                    .iter_mut()
                    .flat_map(|p| std::mem::take(&mut p.lines))
                    .collect();
                let mut verdicts = score_lines(&detector, &lines).into_iter();
                for (pending, size) in batch.into_iter().zip(sizes) {
                    let mine: Vec<Verdict> = verdicts.by_ref().take(size).collect();
                    // A client that went away no longer waits for its answer.
                    let _ = pending.reply.send(mine);
                }
            }
        });
        Self { queue }
    }

    /// Scores `lines` with whatever else is queued; `None` if the batching thread is gone.
    pub async fn score(&self, lines: Vec<Line>) -> Option<Vec<Verdict>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { lines, reply }).ok()?;
        answer.await.ok()
    }
}
