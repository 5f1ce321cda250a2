//! The dispatcher: sends the outbox to the channels (docs/channels.md).
//!
//! A loop of `serve`, like the wake-up loop: it claims due outbox rows
//! (each the oldest queued row of its learner, leased to this process),
//! sends them at once, each learner's in parallel, and records each
//! outcome: sent, retry later (exponential backoff with jitter, or the
//! receiver's `Retry-After`), or failed after the policy's last attempt
//! or a permanent answer. A crash between the send and the record leaves
//! the row leased; when the lease runs out it is sent again with the same
//! `webhook-id` (at least once on the wire; a receiver dedupes on it).

pub mod africastalking;
mod bucket;
pub mod keywords;
pub mod kind;
pub mod setup;
pub mod twilio;
pub mod webhook;
pub mod whatsapp;

pub use setup::{ChannelRequest, DEFAULT_RATE, MAX_RATE, NewChannelError, Shown, new_channel};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chatcourse_channels::retry::RetryPolicy;
use chatcourse_channels::sealing::SealingKey;
use chatcourse_storage::{Channel, ChannelId, OutboxId, OutboxItem, OutboxOutcome};
use futures::future::join_all;

use crate::state::AppState;
use kind::Answer;

/// How the dispatcher works; the defaults suit production, tests shorten
/// the waits.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Attempts and waits between them.
    pub retry: RetryPolicy,
    /// How often the dispatcher looks for due rows when idle.
    pub interval: Duration,
    /// How long a claimed row is this process's; after it another
    /// process (or this one) sends it again. Above `timeout`.
    pub lease: Duration,
    /// The longest one request to a receiver may take.
    pub timeout: Duration,
    /// Rows claimed per round.
    pub batch: u32,
}

impl Default for DeliveryConfig {
    fn default() -> DeliveryConfig {
        DeliveryConfig {
            retry: RetryPolicy::default(),
            interval: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            batch: 200,
        }
    }
}

/// How often the outbox depth is read for the metrics.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// What the dispatcher needs besides the app state.
pub(crate) struct Dispatcher {
    pub config: DeliveryConfig,
    pub key: SealingKey,
    pub client: reqwest::Client,
    seed: AtomicU64,
    buckets: bucket::Buckets,
}

impl Dispatcher {
    pub(crate) fn new(config: DeliveryConfig, key: SealingKey) -> Dispatcher {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .unwrap_or_default();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Dispatcher {
            config,
            key,
            client,
            seed: AtomicU64::new(seed),
            buckets: bucket::Buckets::default(),
        }
    }

    /// A number in `[0, 1)` for the jitter (splitmix64: cheap, and good
    /// enough to spread retries; nothing secret depends on it).
    fn jitter(&self) -> f64 {
        let mut z = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs until shutdown; the sends in progress are finished first.
pub(crate) async fn run(state: AppState) {
    let Some(dispatcher) = state.dispatcher.as_ref() else {
        return;
    };
    let mut tick = tokio::time::interval(dispatcher.config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut depth_read: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if depth_read.is_none_or(|at| at.elapsed() >= DEPTH_EVERY) {
            depth_read = Some(tokio::time::Instant::now());
            read_depth(&state).await;
        }
        // Rows came: their learners' next rows may be due at once.
        while round(&state, dispatcher).await > 0 && !state.shutdown.is_cancelled() {}
    }
}

/// Reads the outbox depth into the metrics.
async fn read_depth(state: &AppState) {
    match state.store.outbox_depth().await {
        Ok(depth) => {
            let now = state.clock.now();
            state.metrics.outbox(depth.into_iter().map(|d| {
                let age = (now - d.oldest_queued_at).num_milliseconds().max(0) as f64 / 1000.0;
                (d.channel.0, d.queued, age)
            }));
        }
        Err(e) => tracing::warn!(error = %e, "reading the outbox depth failed"),
    }
}

/// One round: claims due rows and sends them all. Returns how many.
async fn round(state: &AppState, dispatcher: &Dispatcher) -> usize {
    let due = match state
        .store
        .claim_outbox(
            state.clock.now(),
            dispatcher.config.lease,
            dispatcher.config.batch,
        )
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "claiming the outbox failed");
            return 0;
        }
    };
    let mut channels: HashMap<ChannelId, Option<Channel>> = HashMap::new();
    for row in &due {
        if let std::collections::hash_map::Entry::Vacant(e) = channels.entry(row.channel) {
            let found = state.store.channel(row.channel).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading a channel failed");
                None
            });
            e.insert(found);
        }
    }
    let sends = due.iter().map(|row| {
        let channel = channels.get(&row.channel).and_then(Option::as_ref);
        deliver(state, dispatcher, channel, row)
    });
    // The round's outcomes are recorded in one transaction: one write for
    // the round, not one per row (the learners' next rows are claimed by
    // the next round anyway).
    let outcomes: Vec<(OutboxId, OutboxOutcome)> =
        join_all(sends).await.into_iter().flatten().collect();
    if !outcomes.is_empty()
        && let Err(e) = state
            .store
            .finish_outbox_many(&outcomes, state.clock.now())
            .await
    {
        // The leases run out and the rows are sent again (same keys).
        tracing::error!(rows = outcomes.len(), error = %e, "recording deliveries failed");
    }
    due.len()
}

/// Sends one row over its channel's kind.
async fn send(
    state: &AppState,
    dispatcher: &Dispatcher,
    channel: &Channel,
    row: &OutboxItem,
) -> Answer {
    let Some(handler) = kind::kind(&channel.kind) else {
        return Answer::permanent(format!("unknown channel kind {:?}", channel.kind));
    };
    let opened = match setup::open(&dispatcher.key, channel) {
        Ok(opened) => opened,
        Err(e) => return Answer::permanent(e),
    };
    handler
        .send(kind::Outgoing {
            state,
            dispatcher,
            channel,
            secret: &opened.secret,
            row,
        })
        .await
}

/// Sends one row; its outcome to record (`None`: not sent now, the row
/// waits for its lease to run out).
async fn deliver(
    state: &AppState,
    dispatcher: &Dispatcher,
    channel: Option<&Channel>,
    row: &OutboxItem,
) -> Option<(OutboxId, OutboxOutcome)> {
    if let Some(channel) = channel {
        // The channel's rate: wait for a token, unless the wait would
        // outlast half the lease (then the row waits for its lease to run
        // out and is claimed again).
        let wait = dispatcher
            .buckets
            .take(row.channel, channel.rate_per_second);
        if wait > dispatcher.config.lease / 2 {
            dispatcher.buckets.give_back(row.channel);
            return None;
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    let answer = match channel {
        Some(channel) => send(state, dispatcher, channel, row).await,
        None => Answer::permanent("the channel no longer exists"),
    };
    let channel_id = row.channel.0;
    let attempts = row.attempts + 1;
    let outcome = match answer {
        Answer::Sent { id, segments } => {
            state.metrics.delivery(channel_id, "sent");
            OutboxOutcome::Sent {
                provider_message_id: id,
                segments,
            }
        }
        Answer::Retry { error, after } => {
            let wait = dispatcher
                .config
                .retry
                .next_wait(attempts, after, dispatcher.jitter());
            match wait {
                Some(wait) => {
                    state.metrics.delivery(channel_id, "retry");
                    let at = state.clock.now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                    OutboxOutcome::Retry { at, error }
                }
                None => {
                    state.metrics.delivery(channel_id, "failed");
                    OutboxOutcome::Failed {
                        error: format!("{error} (after {attempts} attempts)"),
                    }
                }
            }
        }
        Answer::Permanent { error, opt_out } => {
            state.metrics.delivery(channel_id, "failed");
            if opt_out {
                // The provider says the recipient unsubscribed: so is the
                // contact, for the whole organisation.
                if let Err(e) = state
                    .store
                    .opt_out_contact(row.org, &row.recipient, state.clock.now())
                    .await
                {
                    tracing::error!(row = row.id.0, error = %e, "recording an opt-out failed");
                }
            }
            OutboxOutcome::Failed { error }
        }
    };
    tracing::debug!(row = row.id.0, ?outcome, "outbox row attempted");
    Some((row.id, outcome))
}
