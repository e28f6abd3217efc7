//! Negotiation, transmission and hostile clients, driven byte by byte with a raw client.

mod common;

use std::collections::HashSet;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use basalt_storage::BlockDevice;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TFLAG_HAS_FLAGS: u16 = 1;
const TFLAG_READ_ONLY: u16 = 2;
const CMD_FLAG_FUA: u16 = 1;

#[tokio::test]
async fn go_reports_size_flags_and_block_sizes() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    let (ro, _) = fx.export("w", true).await;
    let mut c = Raw::connect(fx.addr).await;
    let (size, flags, sizes) = c.info_or_go(OPT_INFO, &name).await.unwrap();
    assert_eq!(size, GIB);
    // HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES.
    assert_eq!(flags, 0b110_1101);
    assert_eq!(sizes, Some([1, 4096, 32 << 20]));
    let (_, ro_flags, _) = c.info_or_go(OPT_INFO, &ro).await.unwrap();
    assert_ne!(ro_flags & TFLAG_READ_ONLY, 0);
    // INFO leaves the session in negotiation; GO then starts transmission.
    assert_eq!(c.go(&name).await, (GIB, flags));
    assert!(c.read(1, 0, 512).await.iter().all(|&b| b == 0));
    fx.stop().await;
}

#[tokio::test]
async fn export_name_starts_transmission_with_or_without_zeroes() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    for no_zeroes in [true, false] {
        let mut c = Raw::connect_plain(fx.addr).await;
        c.s.write_u32(if no_zeroes { 0b11 } else { 0b01 })
            .await
            .unwrap();
        c.send_option(OPT_EXPORT_NAME, name.as_bytes()).await;
        assert_eq!(c.s.read_u64().await.unwrap(), GIB);
        assert_ne!(c.s.read_u16().await.unwrap() & TFLAG_HAS_FLAGS, 0);
        if !no_zeroes {
            assert_eq!(c.read_data(124).await, vec![0; 124]);
        }
        c.write(7, 4096, b"hello").await;
        assert_eq!(c.reply().await, (0, 7));
        assert_eq!(c.read(8, 4096, 5).await, b"hello");
        c.request(CMD_DISC, 0, 9, 0, 0).await;
        c.expect_closed().await;
    }
    fx.stop().await;
}

#[tokio::test]
async fn unknown_names_are_refused_and_never_listed() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    assert_eq!(
        c.info_or_go(OPT_GO, "nope").await.unwrap_err(),
        REP_ERR_UNKNOWN
    );
    assert_eq!(c.info_or_go(OPT_GO, "").await.unwrap_err(), REP_ERR_UNKNOWN);
    // LIST answers with an empty list: an ACK and no NBD_REP_SERVER.
    c.send_option(OPT_LIST, &[]).await;
    let (_, kind, data) = c.option_reply().await;
    assert_eq!((kind, data.len()), (REP_ACK, 0), "no {REP_SERVER}");
    assert_eq!(c.option(OPT_LIST, b"x").await, REP_ERR_INVALID);
    // The session is still usable.
    c.go(&name).await;

    // EXPORT_NAME has no error reply: an unknown name closes the connection.
    let mut c = Raw::connect(fx.addr).await;
    c.send_option(OPT_EXPORT_NAME, b"nope").await;
    c.expect_closed().await;
    fx.stop().await;
}

#[tokio::test]
async fn unsupported_and_malformed_options_are_refused_and_the_session_continues() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    assert_eq!(c.option(OPT_STRUCTURED_REPLY, &[]).await, REP_ERR_UNSUP);
    assert_eq!(c.option(9999, b"whatever").await, REP_ERR_UNSUP);
    // Without a TLS configuration, STARTTLS is refused by policy.
    assert_eq!(c.option(OPT_STARTTLS, &[]).await, REP_ERR_POLICY);
    // A GO whose lengths do not add up.
    let mut bad = 100u32.to_be_bytes().to_vec();
    bad.extend_from_slice(name.as_bytes());
    assert_eq!(c.option(OPT_GO, &bad).await, REP_ERR_INVALID);
    c.go(&name).await;
    assert_eq!(c.read(1, 0, 4096).await, vec![0; 4096]);

    let mut c = Raw::connect(fx.addr).await;
    assert_eq!(c.option(OPT_ABORT, &[]).await, REP_ACK);
    c.expect_closed().await;
    fx.stop().await;
}

#[tokio::test]
async fn bad_magic_unknown_client_flags_and_huge_options_close_only_that_connection() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;

    let mut c = Raw::connect_plain(fx.addr).await;
    c.s.write_u32(0b111).await.unwrap();
    c.expect_closed().await;

    let mut c = Raw::connect_plain(fx.addr).await;
    c.s.write_u32(0).await.unwrap(); // Not fixed newstyle.
    c.expect_closed().await;

    let mut c = Raw::connect(fx.addr).await;
    c.s.write_all(&[0x55; 16]).await.unwrap();
    c.expect_closed().await;

    let mut c = Raw::connect(fx.addr).await;
    let mut header = IHAVEOPT.to_be_bytes().to_vec();
    header.extend_from_slice(&OPT_GO.to_be_bytes());
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    c.s.write_all(&header).await.unwrap();
    c.expect_closed().await;

    // A request with bad magic in transmission.
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    c.s.write_all(&[0xff; 28]).await.unwrap();
    c.expect_closed().await;

    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    assert_eq!(c.read(1, 0, 16).await, vec![0; 16]);
    fx.stop().await;
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_session_continues() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("v", false).await;
    let (ro, _) = fx.export("r", true).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;

    c.request(CMD_READ, 0, 1, GIB - 100, 200).await;
    assert_eq!(
        c.reply().await,
        (EINVAL, 1),
        "read past the end, no data follows"
    );
    c.request(CMD_READ, 0, 2, u64::MAX - 10, 100).await;
    assert_eq!(c.reply().await, (EINVAL, 2), "offset overflow");
    c.request(CMD_READ, 0, 3, 0, (32 << 20) + 1).await;
    assert_eq!(c.reply().await, (EOVERFLOW, 3), "over the maximum payload");
    c.write(4, GIB - 2, b"abcd").await;
    assert_eq!(
        c.reply().await,
        (EINVAL, 4),
        "write past the end; its payload is skipped"
    );
    c.request(CMD_TRIM, 0, 5, GIB, 1).await;
    assert_eq!(c.reply().await, (EINVAL, 5));
    c.request(42, 0, 6, 0, 0).await;
    assert_eq!(c.reply().await, (EINVAL, 6), "unknown command");
    c.request(CMD_READ, 1 << 9, 7, 0, 4).await;
    assert_eq!(c.reply().await, (EINVAL, 7), "unknown flag");

    c.write(8, 0, b"still here").await;
    assert_eq!(c.reply().await, (0, 8));
    assert_eq!(file_range(&path, 0, 10), b"still here");

    let mut r = Raw::connect(fx.addr).await;
    r.go(&ro).await;
    r.write(1, 0, b"nope").await;
    assert_eq!(r.reply().await, (EPERM, 1));
    for (handle, kind) in [(2, CMD_TRIM), (3, CMD_WRITE_ZEROES)] {
        r.request(kind, 0, handle, 0, 4096).await;
        assert_eq!(r.reply().await, (EPERM, handle));
    }
    r.request(CMD_FLUSH, 0, 4, 0, 0).await;
    assert_eq!(r.reply().await, (0, 4));
    assert_eq!(r.read(5, 0, 4).await, vec![0; 4]);
    fx.stop().await;
}

#[tokio::test]
async fn a_huge_write_disconnects_without_buffering_its_payload() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    c.request(CMD_WRITE, 0, 1, 0, u32::MAX).await;
    c.s.write_all(&[0u8; 4096]).await.unwrap();
    assert_eq!(c.reply().await, (EOVERFLOW, 1));
    c.expect_closed().await;

    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    assert_eq!(c.read(1, 0, 4).await, vec![0; 4]);
    fx.stop().await;
}

#[tokio::test]
async fn a_client_dropped_mid_write_does_not_disturb_the_server() {
    let mut fx = Fixture::start().await;
    let (a, path_a) = fx.export("a", false).await;
    let (b, path_b) = fx.export("b", false).await;

    let mut other = Raw::connect(fx.addr).await;
    other.go(&b).await;

    let mut c = Raw::connect(fx.addr).await;
    c.go(&a).await;
    c.request(CMD_WRITE, 0, 1, 0, 1 << 20).await;
    c.s.write_all(&vec![0x99; 1000]).await.unwrap();
    drop(c);

    // The other export's connection, and new connections to the same export, work.
    other.write(1, 0, b"bbbb").await;
    assert_eq!(other.reply().await, (0, 1));
    let mut c = Raw::connect(fx.addr).await;
    c.go(&a).await;
    c.write(2, 4096, b"aaaa").await;
    assert_eq!(c.reply().await, (0, 2));
    assert_eq!(
        c.read(3, 0, 4).await,
        vec![0; 4],
        "the partial write did not happen"
    );
    assert_eq!(file_range(&path_a, 4096, 4), b"aaaa");
    assert_eq!(file_range(&path_b, 0, 4), b"bbbb");
    // EOF in the middle of a request header.
    c.s.write_all(&REQUEST_MAGIC.to_be_bytes()).await.unwrap();
    c.s.shutdown().await.unwrap();
    c.expect_closed().await;
    fx.stop().await;
}

#[tokio::test]
async fn many_short_writes_sent_at_once_are_each_answered_once_and_all_land() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    // More than run on one thread hand-off, and more than may be in flight at once.
    let n = 150u64;
    for i in 0..n {
        c.write(1000 + i, i * 4096, &[(i % 250) as u8 + 1; 4096])
            .await;
    }
    c.request(CMD_FLUSH, 0, 1, 0, 0).await;
    let mut seen = HashSet::new();
    for _ in 0..=n {
        let (err, handle) = c.reply().await;
        assert_eq!(err, 0);
        assert!(seen.insert(handle), "handle {handle} answered once");
    }
    for i in 0..n {
        let data = file_range(&path, i * 4096, 4096);
        assert!(data.iter().all(|&b| b == (i % 250) as u8 + 1), "write {i}");
    }
    fx.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_all_answered_by_handle() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    let block = 64 << 10;
    // 40 writes sent back to back, more than may be in flight at once.
    for i in 0..40u64 {
        c.write(100 + i, i * block, &vec![i as u8 + 1; block as usize])
            .await;
    }
    let mut seen = HashSet::new();
    for _ in 0..40 {
        let (err, handle) = c.reply().await;
        assert_eq!(err, 0);
        assert!(seen.insert(handle));
    }
    assert_eq!(seen, (100..140).collect());
    for i in 0..40u64 {
        c.request(CMD_READ, 0, i, i * block, block as u32).await;
    }
    for _ in 0..40 {
        let (err, handle) = c.reply().await;
        assert_eq!(err, 0);
        let data = c.read_data(block as usize).await;
        assert!(
            data.iter().all(|&b| b == handle as u8 + 1),
            "reply {handle} is whole"
        );
    }
    assert!(file_range(&path, 39 * block, block as usize)
        .iter()
        .all(|&b| b == 40));
    fx.stop().await;
}

#[tokio::test]
async fn fua_flushes_after_the_write_and_plain_writes_do_not() {
    let mut fx = Fixture::start().await;
    let (device, _) = fx.volume("v").await;
    let counting = Arc::new(CountingFlushes::new(device));
    let name = fx.table.issue("v", counting.clone(), false);
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;

    c.write(1, 0, &[1; 4096]).await;
    assert_eq!(c.reply().await, (0, 1));
    assert_eq!(counting.flushes(), 0);
    c.request(CMD_WRITE, CMD_FLAG_FUA, 2, 0, 4).await;
    c.s.write_all(b"fua!").await.unwrap();
    assert_eq!(c.reply().await, (0, 2));
    assert_eq!(counting.flushes(), 1);
    c.request(CMD_FLUSH, 0, 3, 0, 0).await;
    assert_eq!(c.reply().await, (0, 3));
    assert_eq!(counting.flushes(), 2);
    c.request(CMD_WRITE_ZEROES, CMD_FLAG_FUA, 4, 0, 4).await;
    assert_eq!(c.reply().await, (0, 4));
    assert_eq!(counting.flushes(), 3);
    assert_eq!(c.read(5, 0, 8).await, [0, 0, 0, 0, 1, 1, 1, 1]);
    fx.stop().await;
}

#[tokio::test]
async fn trim_and_write_zeroes_read_back_as_zeros() {
    let mut fx = Fixture::start().await;
    let (name, path) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    c.write(1, 0, &vec![0xaa; 3 << 20]).await;
    assert_eq!(c.reply().await, (0, 1));
    c.request(CMD_TRIM, 0, 2, 0, 1 << 20).await;
    assert_eq!(c.reply().await, (0, 2));
    c.request(CMD_WRITE_ZEROES, 2, 3, 1 << 20, 1 << 20).await; // NO_HOLE
    assert_eq!(c.reply().await, (0, 3));
    assert!(c.read(4, 0, 2 << 20).await.iter().all(|&b| b == 0));
    assert!(file_range(&path, 2 << 20, 1 << 20)
        .iter()
        .all(|&b| b == 0xaa));
    // TRIM and WRITE_ZEROES carry no payload, so they may exceed the 32 MiB limit.
    c.request(CMD_TRIM, 0, 5, 0, GIB as u32).await;
    assert_eq!(c.reply().await, (0, 5));
    assert!(file_range(&path, 2 << 20, 1 << 20).iter().all(|&b| b == 0));
    fx.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let mut fx = Fixture::start().await;
    let (name, _) = fx.export("v", false).await;
    let mut c = Raw::connect(fx.addr).await;
    c.go(&name).await;
    let mut idle = Raw::connect(fx.addr).await; // Still negotiating.
    fx.stop().await;
    c.expect_closed().await;
    idle.expect_closed().await;
    let mut buf = [0u8; 1];
    assert!(matches!(c.s.read(&mut buf).await, Ok(0) | Err(_)));
}

/// A device whose read at offset 0 waits until a read elsewhere has happened: served one at a
/// time, the first read would fail after five seconds.
struct Gate {
    inner: Arc<dyn BlockDevice>,
    opened: Mutex<mpsc::Sender<()>>,
    waiting: Mutex<mpsc::Receiver<()>>,
}

impl BlockDevice for Gate {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        if offset == 0 {
            let waiting = self.waiting.lock().unwrap();
            waiting
                .recv_timeout(Duration::from_secs(5))
                .map_err(std::io::Error::other)?;
        } else {
            let _ = self.opened.lock().unwrap().send(());
        }
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.inner.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> std::io::Result<()> {
        self.inner.discard(offset, len)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_concurrently_and_a_stalled_export_does_not_block_another() {
    let mut fx = Fixture::start().await;
    let (device, _) = fx.volume("gated").await;
    let (opened, waiting) = mpsc::channel();
    let gate = Arc::new(Gate {
        inner: device,
        opened: Mutex::new(opened),
        waiting: Mutex::new(waiting),
    });
    let gated = fx.table.issue("gated", gate, false);
    let (free, _) = fx.export("free", false).await;

    let mut c = Raw::connect(fx.addr).await;
    c.go(&gated).await;
    c.request(CMD_READ, 0, 1, 0, 512).await; // Stalls until the read of handle 2.

    let mut other = Raw::connect(fx.addr).await;
    other.go(&free).await;
    let quick = tokio::time::timeout(Duration::from_secs(2), other.read(9, 0, 512));
    assert_eq!(
        quick.await.expect("not blocked by the stalled export"),
        vec![0; 512]
    );

    c.request(CMD_READ, 0, 2, 4096, 512).await;
    // Both succeed (one at a time, handle 1 would have failed with EIO after five seconds),
    // in whichever order they finish.
    let mut handles = HashSet::new();
    for _ in 0..2 {
        let (err, handle) = c.reply().await;
        assert_eq!(err, 0);
        handles.insert(handle);
        c.read_data(512).await;
    }
    assert_eq!(handles, HashSet::from([1, 2]));
    fx.stop().await;
}
