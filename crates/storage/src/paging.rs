//! Exports read in keyset pages, so that no export holds a pooled
//! connection while its client is slow to read.
//!
//! Each page is one short query (`... WHERE key > cursor ORDER BY key
//! LIMIT n`) whose rows are all read before the connection goes back to the
//! pool; a producer task reads the next page while the consumer takes the
//! rows of the previous one, handed over a page at a time on a bounded
//! channel. A client that never reads blocks the producer on the channel,
//! holding rows in memory (at most three pages) but no connection.

use std::future::Future;

use futures::future::Either;
use futures::stream::{BoxStream, StreamExt};

use crate::Result;
use crate::model::{AnswerExportRow, ExportFilter, ExportRow, OrgId, SessionExportRow};

/// Rows per page of an export.
const EXPORT_PAGE: i64 = 2000;

/// One page: its rows and the cursor after the last of them (`None`: this
/// was the last page).
pub(crate) struct Page<T, K> {
    pub rows: Vec<T>,
    pub next: Option<K>,
}

/// Pages fetched ahead of the consumer: the next page is read while the
/// consumer takes the rows of the current one.
const PAGES_AHEAD: usize = 1;

/// The rows of every page from `start` on, fetched by `fetch(cursor)` one
/// page at a time, in order; the first error ends the stream after it.
///
/// A task owns the fetching (and what the queries borrow) and hands whole
/// pages over a bounded channel: memory is at most the page being read,
/// [`PAGES_AHEAD`] pages waiting and the page being consumed, and the
/// hand-over costs once per page, not once per row. Dropping the stream
/// ends the task at its next send.
pub(crate) fn paged<T, K, F, Fut>(start: K, mut fetch: F) -> BoxStream<'static, Result<T>>
where
    T: Send + 'static,
    K: Send + 'static,
    F: FnMut(K) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T, K>>> + Send,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<T>>>(PAGES_AHEAD);
    tokio::spawn(async move {
        let mut cursor = start;
        loop {
            match fetch(cursor).await {
                Ok(page) => {
                    if tx.send(Ok(page.rows)).await.is_err() {
                        return;
                    }
                    match page.next {
                        Some(next) => cursor = next,
                        None => return,
                    }
                }
                Err(error) => {
                    let _ = tx.send(Err(error)).await;
                    return;
                }
            }
        }
    });
    let pages = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|page| (page, rx))
    });
    Box::pin(pages.flat_map(|page| match page {
        Ok(rows) => Either::Left(futures::stream::iter(rows.into_iter().map(Ok))),
        Err(error) => Either::Right(futures::stream::once(async { Err(error) })),
    }))
}

/// Where an export of rows ordered by (session, row id) stands (the
/// messages, the answers): the last row sent, and its session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowCursor {
    pub session: i64,
    pub row: i64,
}

/// The rows a (session, row id) export can page through.
pub(crate) trait SessionRow {
    fn cursor(&self) -> RowCursor;
}

impl SessionRow for ExportRow {
    fn cursor(&self) -> RowCursor {
        RowCursor {
            session: self.message.session.0,
            row: self.message.id.0,
        }
    }
}

impl SessionRow for AnswerExportRow {
    fn cursor(&self) -> RowCursor {
        RowCursor {
            session: self.session.0,
            row: self.id,
        }
    }
}

/// Which rows a page of a (session, row id) export reads: the rest of the
/// cursor's session (`s.id = session AND row id > row`), or the sessions
/// after one (`s.id > session`; all of them for `None`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Keyset {
    Rest(RowCursor),
    After(Option<i64>),
}

impl Keyset {
    /// The session id the keyset starts from (`i64::MIN`: the first).
    pub(crate) fn session(self) -> i64 {
        match self {
            Keyset::Rest(c) => c.session,
            Keyset::After(session) => session.unwrap_or(i64::MIN),
        }
    }
}

/// The rows of an export ordered by (session, row id), read by
/// `rows(pool, org, filter, keyset, limit)`, a backend's query.
pub(crate) fn by_session<T, P, Fut>(
    pool: P,
    org: OrgId,
    filter: ExportFilter,
    rows: fn(P, OrgId, ExportFilter, Keyset, i64) -> Fut,
) -> BoxStream<'static, Result<T>>
where
    T: SessionRow + Send + 'static,
    P: Clone + Send + 'static,
    Fut: Future<Output = Result<Vec<T>>> + Send + 'static,
{
    paged(None, move |cursor: Option<RowCursor>| {
        let (pool, filter) = (pool.clone(), filter.clone());
        async move {
            // First the rest of the cursor's session, then, if the page is
            // not full, the next sessions: each a range on one index,
            // however long a session is.
            let mut page = match cursor {
                Some(c) => {
                    rows(
                        pool.clone(),
                        org,
                        filter.clone(),
                        Keyset::Rest(c),
                        EXPORT_PAGE,
                    )
                    .await?
                }
                None => Vec::new(),
            };
            let missing = EXPORT_PAGE - page.len() as i64;
            if missing > 0 {
                let after = Keyset::After(cursor.map(|c| c.session));
                let more = rows(pool, org, filter, after, missing).await?;
                let full = more.len() as i64 == missing;
                page.extend(more);
                if !full {
                    return Ok(Page {
                        rows: page,
                        next: None,
                    });
                }
            }
            let next = page.last().map(SessionRow::cursor);
            Ok(Page {
                rows: page,
                next: Some(next.or(cursor)),
            })
        }
    })
}

/// The rows of a sessions export of programme `identifier`, ordered by
/// session, read by `rows(pool, org, identifier, after, limit)`, a
/// backend's query (the sessions whose id is above `after`).
pub(crate) fn sessions<P, Fut>(
    pool: P,
    org: OrgId,
    identifier: i64,
    rows: fn(P, OrgId, i64, i64, i64) -> Fut,
) -> BoxStream<'static, Result<SessionExportRow>>
where
    P: Clone + Send + 'static,
    Fut: Future<Output = Result<Vec<SessionExportRow>>> + Send + 'static,
{
    paged(i64::MIN, move |after| {
        let page = rows(pool.clone(), org, identifier, after, EXPORT_PAGE);
        async move { Ok(session_page(page.await?)) }
    })
}

/// A page of a sessions export (keyed by session id): the next cursor is
/// the last session's when the page is full.
fn session_page(rows: Vec<SessionExportRow>) -> Page<SessionExportRow, i64> {
    let full = rows.len() as i64 == EXPORT_PAGE;
    Page {
        next: rows
            .last()
            .filter(|_| full)
            .map(|row| row.summary.session.id.0),
        rows,
    }
}
