//! Where both services' log lines go: to stderr, written by a thread of their
//! own (docs/architecture.md, "Logging").
//!
//! A request that logs only appends its line to a buffer: it never waits for
//! the reader of stderr. That reader is a container runtime's log driver or
//! journald, and it stalls when its disk is busy or it throttles; were the line
//! written by the request itself, a full pipe would stop every request of the
//! runtime's worker threads until the reader caught up.
//!
//! The writer thread takes everything buffered, writes it with one system
//! call, then lets lines gather for [`GATHER`] before it takes again. So under
//! load one write and one wake-up carry a few milliseconds of lines, and a
//! request that logs wakes nobody; only a line that finds the writer idle
//! wakes it, at once. (A channel with one message per line, as the tracing
//! project's non-blocking writer has, cost the proxy a wake-up, a spinning
//! receiver and an allocation per request: about 10 µs, docs/benchmarks.md.)
//!
//! Nothing is dropped: when [`BUFFERED_LINES`] lines are buffered (seconds of
//! lines at full load), logging waits for room, as writing to stderr directly
//! would. Dropping the [`LogGuard`] writes out what is buffered.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines buffered before logging waits for the writer: 2.7 s of request lines
/// at 12,000 requests/s, 18 s at the 1,800 requests/s KMS sends a key store.
pub const BUFFERED_LINES: usize = 32_768;

/// How long the writer lets lines gather after each write.
pub const GATHER: Duration = Duration::from_millis(5);

/// The lines waiting for the writer.
#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    lines: usize,
    /// The writer waits for a line (and must be woken).
    writer_idle: bool,
    /// The guard was dropped: write out what is left and stop.
    stopping: bool,
}

struct Shared {
    /// Lines buffered at most ([`BUFFERED_LINES`]).
    limit: usize,
    buffer: Mutex<Buffer>,
    has_lines: Condvar,
    has_room: Condvar,
}

impl Shared {
    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One event's writer, handed out by [`LogWriter`].
pub struct LineWriter<'a>(&'a Shared);

/// Appends one line (the formatter writes each event in one call).
impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = self.0;
        let mut b = shared.buffer();
        while b.lines >= shared.limit && !b.stopping {
            b = shared.has_room.wait(b).unwrap_or_else(PoisonError::into_inner);
        }
        let wake = b.writer_idle;
        b.writer_idle = false;
        b.bytes.extend_from_slice(line);
        b.lines += 1;
        drop(b);
        if wake {
            shared.has_lines.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the subscriber writes through ([`spawn`]).
#[derive(Clone)]
pub struct LogWriter(Arc<Shared>);

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter").finish_non_exhaustive()
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(&self.0)
    }
}

/// Keeps the writer thread; dropping it writes out the buffered lines.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.buffer().stopping = true;
        self.shared.has_lines.notify_one();
        self.shared.has_room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the writer thread over `sink` (stderr in the services). Write
/// errors of the sink are not reported: there is nowhere left to report them.
pub fn spawn<W: Write + Send + 'static>(sink: W) -> (LogWriter, LogGuard) {
    spawn_with_limit(sink, BUFFERED_LINES)
}

fn spawn_with_limit<W: Write + Send + 'static>(sink: W, limit: usize) -> (LogWriter, LogGuard) {
    let shared = Arc::new(Shared { limit, buffer: Mutex::default(), has_lines: Condvar::new(), has_room: Condvar::new() });
    let writer = shared.clone();
    let thread = std::thread::Builder::new().name("log-writer".into()).spawn(move || write_until_stopped(&writer, sink)).ok();
    if thread.is_none() {
        // No thread: the lines could never leave; a logging call must not wait forever.
        shared.buffer().stopping = true;
    }
    (LogWriter(shared.clone()), LogGuard { shared, thread })
}

/// The writer thread: takes what is buffered, writes it, lets lines gather.
fn write_until_stopped<W: Write>(shared: &Shared, mut sink: W) {
    let mut taken = Vec::new();
    loop {
        let stopping = {
            let mut b = shared.buffer();
            while b.bytes.is_empty() && !b.stopping {
                b.writer_idle = true;
                b = shared.has_lines.wait(b).unwrap_or_else(PoisonError::into_inner);
            }
            b.writer_idle = false;
            if b.bytes.is_empty() {
                return;
            }
            std::mem::swap(&mut taken, &mut b.bytes);
            b.lines = 0;
            b.stopping
        };
        shared.has_room.notify_all();
        let _ = sink.write_all(&taken);
        let _ = sink.flush();
        taken.clear();
        if !stopping {
            std::thread::sleep(GATHER);
        }
    }
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

    /// Logs `lines` lines through a subscriber writing to `sink` (buffering at
    /// most `limit` lines), on a thread of its own.
    fn log_lines(sink: StalledSink, lines: usize, limit: usize) -> (std::sync::mpsc::Receiver<()>, LogGuard) {
        let (writer, guard) = spawn_with_limit(sink, limit);
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
        let (finished, guard) = log_lines(sink.clone(), lines, BUFFERED_LINES);
        finished.recv_timeout(Duration::from_secs(30)).expect("logging returned while the reader was stalled");
        assert!(sink.written().is_empty(), "the sink is still stalled");
        sink.open();
        drop(guard);
        assert_eq!(numbers(&sink.written()), (0..lines).collect::<Vec<_>>(), "every line, once, in order");
    }

    /// The line numbers in the order they were written.
    fn numbers(written: &str) -> Vec<usize> {
        written.lines().map(|l| l.split("i=").nth(1).and_then(|n| n.split_whitespace().next()).unwrap().parse().unwrap()).collect()
    }

    #[test]
    fn a_full_buffer_makes_logging_wait_and_still_loses_nothing() {
        let sink = StalledSink::default();
        let (finished, guard) = log_lines(sink.clone(), 1_000, 100);
        // One line is in the stalled write, 100 are buffered: the logger waits for room.
        assert!(finished.recv_timeout(Duration::from_millis(500)).is_err(), "logging went on past a full buffer");
        sink.open();
        finished.recv_timeout(Duration::from_secs(30)).expect("logging resumed once the reader read");
        drop(guard);
        assert_eq!(numbers(&sink.written()), (0..1_000).collect::<Vec<_>>(), "every line, once, in order");
    }

    #[test]
    fn a_line_that_finds_the_writer_idle_is_written_at_once() {
        let sink = StalledSink::default();
        sink.open();
        let (finished, _guard) = log_lines(sink.clone(), 1, BUFFERED_LINES);
        finished.recv_timeout(Duration::from_secs(30)).unwrap();
        let start = std::time::Instant::now();
        while sink.written().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "the idle writer was not woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(numbers(&sink.written()), [0]);
    }
}
