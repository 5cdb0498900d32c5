//! The share service's operator channel, as the tests use it.

use std::path::Path;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

/// Sends one command line to the share service's admin socket and returns its
/// JSON answer.
///
/// # Panics
/// When the socket cannot be reached or the answer is not JSON (a test
/// cannot go on without its operator).
#[allow(clippy::expect_used)]
pub async fn admin(socket: &Path, command: &str) -> serde_json::Value {
    let stream = tokio::net::UnixStream::connect(socket).await.expect("the admin socket");
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{command}\n").as_bytes()).await.expect("a command sent");
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await.expect("an answer");
    serde_json::from_str(&line).expect("a JSON answer")
}
