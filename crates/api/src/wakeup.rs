//! The wake-up loop: sessions whose timer is due (a reminder, an expiry)
//! get a wake turn. The store leases each due session to one caller, so
//! several server processes can share one database. The loop polls on a
//! real interval but asks the store's clock what time it is, so tests move
//! time with a `ManualClock` instead of sleeping.

use std::time::Duration;

use crate::state::AppState;
use crate::turns;

/// How long a claimed session is ours before another process may claim it.
const LEASE: Duration = Duration::from_secs(60);
/// Sessions claimed per round.
const BATCH: u32 = 100;

/// Runs until shutdown; a round in progress is finished first.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            let woken = round(&state).await;
            if woken < BATCH as usize || state.shutdown.is_cancelled() {
                break;
            }
        }
    }
}

/// One round: claims due sessions and wakes each. Returns how many.
async fn round(state: &AppState) -> usize {
    let due = match state
        .store
        .claim_due_wakeups(state.clock.now(), LEASE, BATCH)
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "claiming due wake-ups failed");
            return 0;
        }
    };
    for session in &due {
        match turns::wake_turn(state, session).await {
            Ok(outcome) => tracing::debug!(
                session = %session.uuid,
                sent = outcome.sent.len(),
                status = %outcome.session.status,
                "session woken"
            ),
            Err(e) => tracing::error!(session = %session.uuid, error = %e, "wake-up turn failed"),
        }
    }
    due.len()
}
