//! Where both services' log lines go: to stderr, written by a thread of their
//! own (docs/architecture.md, "Logging").
//!
//! A request that logs only queues its line: it never waits for the reader of
//! stderr. That reader is a container runtime's log driver or journald, and it
//! stalls when its disk is busy or it throttles; were the line written by the
//! request itself, a full pipe would stop every request of the runtime's worker
//! threads until the reader caught up. The writer thread takes every line
//! queued, writes them with one system call where they fit, and waits again.
//!
//! Nothing is dropped: when [`BUFFERED_LINES`] lines are queued (seconds of
//! lines at full load), logging waits for room, as writing to stderr directly
//! would. Dropping the [`LogGuard`] writes out what is queued.

use std::io::{BufWriter, Write};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines queued before logging waits for the writer: 2.7 s of request lines at
/// 12,000 requests/s, 18 s at the 1,800 requests/s KMS sends a key store. The
/// queue's slots are allocated up front (about 1 MiB); a line's bytes only
/// while it waits.
pub const BUFFERED_LINES: usize = 32_768;

/// The writer's buffer: the lines taken at once are written in writes of at most this size.
const WRITE_BUFFER: usize = 64 * 1024;

/// Keeps the writer thread; dropping it writes out the queued lines.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

/// A writer for `tracing_subscriber` that queues each line for a thread that
/// writes them to `sink` (module docs).
pub fn spawn<W: Write + Send + Sync + 'static>(sink: W) -> (NonBlocking, LogGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, sink));
    (writer, LogGuard(guard))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    /// Whether the sink is open, and what was written to it.
    #[derive(Default)]
    struct Sunk {
        open: bool,
        bytes: Vec<u8>,
    }

    /// A sink whose writes wait until it is opened, like a pipe whose reader stalls.
    #[derive(Clone, Default)]
    struct StalledSink {
        state: Arc<(Mutex<Sunk>, Condvar)>,
    }

    impl StalledSink {
        fn open(&self) {
            self.state.0.lock().unwrap().open = true;
            self.state.1.notify_all();
        }
        fn written(&self) -> String {
            String::from_utf8(self.state.0.lock().unwrap().bytes.clone()).unwrap()
        }
    }

    impl Write for StalledSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, opened) = &*self.state;
            let mut state = opened.wait_while(lock.lock().unwrap(), |s| !s.open).unwrap();
            state.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs `lines` lines through a subscriber writing to `sink`, on a thread of its own.
    fn log_lines(sink: StalledSink, lines: usize) -> (std::sync::mpsc::Receiver<()>, LogGuard) {
        let (writer, guard) = spawn(sink);
        let subscriber = tracing_subscriber::fmt().with_writer(writer).with_ansi(false).finish();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                for i in 0..lines {
                    tracing::info!(i, "request line");
                }
            });
            let _ = done.send(());
        });
        (finished, guard)
    }

    #[test]
    fn a_stalled_reader_does_not_stall_the_code_that_logs_and_no_line_is_lost() {
        let sink = StalledSink::default();
        // Far more than a pipe's 64 KiB: written directly, the logging thread would stop.
        let lines = 5_000;
        let (finished, guard) = log_lines(sink.clone(), lines);
        finished.recv_timeout(Duration::from_secs(30)).expect("logging returned while the reader was stalled");
        assert!(sink.written().is_empty(), "the sink is still stalled");
        sink.open();
        drop(guard);
        let written = sink.written();
        let numbers: Vec<usize> =
            written.lines().map(|l| l.split("i=").nth(1).and_then(|n| n.split_whitespace().next()).unwrap().parse().unwrap()).collect();
        assert_eq!(numbers, (0..lines).collect::<Vec<_>>(), "every line, once, in order");
    }
}
