//! Revocation: a revoked name stops working at once, its connections close, and writes already
//! under way finish before `revoke` returns.

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use basalt_storage::BlockDevice;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_closes_every_connection_of_that_export_only() {
    let mut fx = Fixture::start().await;
    let (a, _) = fx.export("a", false).await;
    let (b, _) = fx.export("b", false).await;

    let mut by_go = Raw::connect(fx.addr).await;
    by_go.go(&a).await;
    let mut by_name = Raw::connect(fx.addr).await;
    by_name.send_option(OPT_EXPORT_NAME, a.as_bytes()).await;
    by_name.read_data(10).await;
    let mut other = Raw::connect(fx.addr).await;
    other.go(&b).await;

    let revoke = tokio::time::timeout(Duration::from_secs(10), fx.table.revoke(&a));
    assert!(revoke.await.expect("revoke returns promptly"));
    assert!(fx.table.get(&a).is_none());

    for c in [&mut by_go, &mut by_name] {
        // A request after revocation gets no answer: the connection is closed.
        c.request(CMD_READ, 0, 1, 0, 512).await;
        c.expect_closed().await;
    }
    assert_eq!(other.read(1, 0, 4).await, vec![0; 4]);
    let mut again = Raw::connect(fx.addr).await;
    assert_eq!(
        again.info_or_go(OPT_GO, &a).await.unwrap_err(),
        REP_ERR_UNKNOWN
    );
    assert!(!fx.table.revoke(&a).await, "already revoked");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_volume_withdraws_all_exports_of_the_volume() {
    let mut fx = Fixture::start().await;
    let (device, _) = fx.volume("a").await;
    let rw = fx.table.issue("a", device.clone(), false);
    let ro = fx.table.issue("a", device, true);
    let (b, _) = fx.export("b", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&ro).await;

    assert_eq!(fx.table.revoke_volume("a").await, 2);
    c.request(CMD_READ, 0, 1, 0, 512).await;
    c.expect_closed().await;
    assert!(fx.table.get(&rw).is_none() && fx.table.get(&ro).is_none());
    assert!(fx.table.get(&b).is_some());
    assert_eq!(fx.table.len(), 1);
    fx.stop().await;
}

/// A device whose writes announce themselves, then take a while.
struct SlowWrites {
    inner: Arc<dyn BlockDevice>,
    started: Mutex<mpsc::Sender<()>>,
    finished: AtomicBool,
}

impl BlockDevice for SlowWrites {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let _ = self.started.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(500));
        self.inner.write_at(buf, offset)?;
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.discard(offset, len)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_flight_write_completes_and_is_answered_before_revoke_returns() {
    let mut fx = Fixture::start().await;
    let (device, path) = fx.volume("a").await;
    let (started_tx, started) = mpsc::channel();
    let slow = Arc::new(SlowWrites {
        inner: device,
        started: Mutex::new(started_tx),
        finished: AtomicBool::new(false),
    });
    let name = fx.table.issue("a", slow.clone(), false);
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;

    c.write(77, 8192, b"in flight").await;
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the write reaches the device");
    assert!(!slow.finished.load(Ordering::SeqCst));
    assert!(fx.table.revoke(&name).await);
    assert!(
        slow.finished.load(Ordering::SeqCst),
        "revoke waited for the write"
    );
    assert_eq!(file_range(&path, 8192, 9), b"in flight");

    // The write was answered before the connection closed.
    assert_eq!(c.reply().await, (0, 77));
    c.expect_closed().await;
    fx.stop().await;
}
