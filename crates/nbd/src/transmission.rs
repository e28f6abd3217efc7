//! The transmission phase of one connection. Requests are read in order by the connection's
//! task. A READ whose data is in the page cache (and a WRITE the filesystem takes without
//! waiting, where it can say so: `RWF_NOWAIT`) completes right there, with no thread
//! hand-off; every other request runs on tokio's blocking pool (short WRITEs gathered while
//! the next request is already buffered run together, one hand-off for several), so several
//! are in flight at once (at most [`MAX_OPS`], holding at most [`BUFFER_BUDGET`] bytes of
//! payload) and a slow disk never stalls the connection's task. Replies are written whole
//! under one lock, in completion order: the ones completed on the connection's task are
//! gathered while further requests are already buffered and leave in one write; a reply the
//! socket does not take at once is finished by a task of its own, so neither the
//! connection's task nor a blocking thread ever waits for the client. The connection ends on
//! DISC, EOF, a protocol violation, a write failure, server shutdown or revocation of its
//! export, and waits (for a bounded time) for the replies of requests already accepted.

use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use basalt_storage::BlockDevice;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{watch, Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::exports::{Attachment, Export};
use crate::proto::*;
use crate::ConnError;

/// Requests of one connection that may be in flight at once.
const MAX_OPS: u32 = 64;
/// Bytes of READ and WRITE payload one connection may hold at once (two maximal requests).
const BUFFER_BUDGET: u32 = 2 * MAX_PAYLOAD;
/// The payload budget is counted in units of this many bytes.
const BUFFER_UNIT: u32 = 4096;
/// Longest a reply may take to write before the client is deemed gone.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the end of a connection waits for the replies of requests already accepted.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// Chunk of zeros written for WRITE_ZEROES with NO_HOLE.
const ZERO_CHUNK: u64 = 1 << 20;
/// Largest READ or WRITE tried on the connection's own task (a memory copy when the page
/// cache has the data; larger ones go to the blocking pool so the task is never held long).
const INLINE_MAX: u32 = 4 << 20;
/// Larger READs run on the connection's task only when nothing else of the connection is in
/// flight: several large copies gain more from running in parallel on the blocking pool.
const INLINE_READ_ALWAYS: u32 = 64 << 10;
/// Replies completed on the connection's task are gathered up to this many bytes while the
/// next request is already buffered, then written at once.
const BATCH_MAX: usize = 256 << 10;
/// Bytes of the request stream read ahead (many small requests arrive in one read).
const READ_AHEAD: usize = 64 << 10;
/// WRITEs up to this long that must go to the blocking pool are gathered while the next
/// request is already buffered, and run one after the other on one thread: a buffered write
/// is a short copy (ext4 lets one at a time into a file anyway), the hand-off to a thread
/// costs more than the write.
const WRITE_BATCH_LEN: u32 = 64 << 10;
/// Most WRITEs run by one thread hand-off.
const WRITE_BATCH_MAX: usize = 32;

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// What one connection shares with its in-flight requests.
struct Conn {
    export: Arc<Export>,
    writer: Arc<Mutex<Writer>>,
    /// Set when a reply could not be written: the stream is unusable.
    broken: watch::Sender<bool>,
    ops: Arc<Semaphore>,
    buffers: Arc<Semaphore>,
}

impl Conn {
    /// Requests of this connection not yet answered, counting the one at hand.
    fn in_flight(&self) -> usize {
        MAX_OPS as usize - self.ops.available_permits()
    }
}

/// The budget a request holds until its reply has been written: one op, and for a READ or
/// WRITE its payload's units. Several requests' budgets merge into one when their replies
/// leave together.
#[derive(Default)]
struct Held {
    ops: Option<OwnedSemaphorePermit>,
    buffers: Option<OwnedSemaphorePermit>,
}

impl Held {
    fn absorb(&mut self, other: Held) {
        fn merge(a: &mut Option<OwnedSemaphorePermit>, b: Option<OwnedSemaphorePermit>) {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => a.merge(b),
                (None, b) => *a = b,
                (Some(_), None) => {}
            }
        }
        merge(&mut self.ops, other.ops);
        merge(&mut self.buffers, other.buffers);
    }
}

/// Replies ready to be written, in one buffer, and the budget they hold.
#[derive(Default)]
struct Outgoing {
    bytes: Vec<u8>,
    held: Held,
}

impl Outgoing {
    /// Adds a reply; a long one is adopted rather than copied when nothing is gathered yet.
    fn push(&mut self, reply: Vec<u8>, held: Held) {
        if self.bytes.is_empty() {
            self.bytes = reply;
        } else {
            self.bytes.extend_from_slice(&reply);
        }
        self.held.absorb(held);
    }

    fn push_header(&mut self, header: [u8; REPLY_HEADER], held: Held) {
        self.bytes.extend_from_slice(&header);
        self.held.absorb(held);
    }
}

/// A request read whole from the stream, with the budget it holds until it is answered.
struct Incoming {
    req: Request,
    payload: Vec<u8>,
    held: Held,
}

enum Next {
    Request(Incoming),
    Eof,
    /// A WRITE whose payload cannot be skipped: answered, then the connection ends.
    Unsyncable(Request, Held),
}

/// Serves `attachment` on a stream whose negotiation has finished.
pub(crate) async fn serve(
    reader: Reader,
    writer: Writer,
    attachment: Attachment,
    mut shutdown: watch::Receiver<bool>,
) {
    let Attachment {
        export,
        mut revoked,
    } = attachment;
    let conn = Arc::new(Conn {
        export,
        writer: Arc::new(Mutex::new(writer)),
        broken: watch::channel(false).0,
        ops: Arc::new(Semaphore::new(MAX_OPS as usize)),
        buffers: Arc::new(Semaphore::new((BUFFER_BUDGET / BUFFER_UNIT) as usize)),
    });
    let mut broken = conn.broken.subscribe();
    let mut reader = BufReader::with_capacity(READ_AHEAD, reader);
    let mut batch = Outgoing::default();
    let mut writes = Vec::new();
    tracing::debug!(
        volume_id = conn.export.volume_id,
        "NBD transmission started"
    );
    let end = loop {
        // Gathered writes start, and gathered replies leave, once the next request would have
        // to be waited for.
        if !writes.is_empty()
            && (writes.len() >= WRITE_BATCH_MAX || !next_is_at_hand(reader.buffer(), &conn))
        {
            run_writes(&conn, std::mem::take(&mut writes), &revoked);
        }
        if !batch.bytes.is_empty()
            && (batch.bytes.len() >= BATCH_MAX || !next_is_at_hand(reader.buffer(), &conn))
        {
            conn.send(std::mem::take(&mut batch));
        }
        // Requests served from the buffer and the page cache never wait: give other tasks
        // their turn now and then.
        tokio::task::consume_budget().await;
        let next = tokio::select! {
            biased;
            _ = revoked.wait_for(|r| *r) => break "export revoked",
            _ = shutdown.wait_for(|s| *s) => break "server shutting down",
            _ = broken.wait_for(|b| *b) => break "reply could not be sent",
            next = read_next(&mut reader, &conn) => next,
        };
        match next {
            Ok(Next::Request(incoming)) if incoming.req.kind == CMD_DISC => {
                break "client disconnected"
            }
            Ok(Next::Request(incoming)) => {
                dispatch(&conn, incoming, &revoked, &mut batch, &mut writes)
            }
            Ok(Next::Eof) => break "client closed the connection",
            Ok(Next::Unsyncable(req, held)) => {
                tracing::warn!(len = req.len, "NBD WRITE larger than the maximum payload");
                batch.push_header(simple_reply(EOVERFLOW, req.handle), held);
                break "oversized write";
            }
            Err(ConnError::Protocol(why)) => {
                tracing::warn!(%why, "NBD protocol violation");
                break "protocol violation";
            }
            Err(ConnError::Io(e)) => {
                tracing::debug!(error = %e, "NBD read failed");
                break "read failed";
            }
        }
    };
    // Writes already accepted run (and are answered) even though the connection is ending.
    if !writes.is_empty() {
        run_writes(&conn, writes, &revoked);
    }
    if !batch.bytes.is_empty() {
        conn.send(batch);
    }
    tracing::debug!(
        volume_id = conn.export.volume_id,
        reason = end,
        "NBD connection ending"
    );
    drop(reader);
    let drained = tokio::time::timeout(DRAIN_GRACE, conn.ops.acquire_many(MAX_OPS)).await;
    if drained.is_err() {
        tracing::warn!("NBD replies still pending after the grace period; dropping them");
        conn.broken.send_replace(true);
        return;
    }
    let mut writer = conn.writer.lock().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
    // `revoked` drops here, after every accepted request has been answered.
}

/// Whether the next request can be read whole from `buffered` and admitted without waiting:
/// then replies gathered so far may wait for it.
fn next_is_at_hand(buffered: &[u8], conn: &Conn) -> bool {
    let Some(header) = buffered.first_chunk::<{ Request::SIZE }>() else {
        return false;
    };
    // A bad header ends the connection at once; the gathered replies go out then.
    let Some(req) = Request::parse(header) else {
        return true;
    };
    if conn.ops.available_permits() == 0 {
        return false;
    }
    match req.kind {
        CMD_WRITE if req.len > MAX_PAYLOAD => true,
        CMD_WRITE => {
            buffered.len() >= Request::SIZE + req.len as usize
                && conn.buffers.available_permits() >= units(req.len) as usize
        }
        CMD_READ if req.len <= MAX_PAYLOAD => {
            conn.buffers.available_permits() >= units(req.len) as usize
        }
        _ => true,
    }
}

/// Units of the payload budget a READ or WRITE of `len` bytes holds.
fn units(len: u32) -> u32 {
    len.div_ceil(BUFFER_UNIT).max(1)
}

/// Reads the next request and, for a WRITE, its payload. Waits for room in the connection's
/// budget before reading, which is what bounds the requests in flight.
async fn read_next<R>(r: &mut R, conn: &Conn) -> Result<Next, ConnError>
where
    R: AsyncRead + Unpin,
{
    let op = conn
        .ops
        .clone()
        .acquire_owned()
        .await
        .expect("never closed");
    let mut header = [0u8; Request::SIZE];
    let n = r.read(&mut header).await?;
    if n == 0 {
        return Ok(Next::Eof);
    }
    r.read_exact(&mut header[n..]).await?;
    let req =
        Request::parse(&header).ok_or_else(|| ConnError::protocol("bad request magic".into()))?;
    let carries_data = matches!(req.kind, CMD_READ | CMD_WRITE);
    if req.kind == CMD_WRITE && req.len > MAX_PAYLOAD {
        let held = Held {
            ops: Some(op),
            buffers: None,
        };
        return Ok(Next::Unsyncable(req, held));
    }
    let buffers = if carries_data && req.len <= MAX_PAYLOAD {
        Some(
            conn.buffers
                .clone()
                .acquire_many_owned(units(req.len))
                .await
                .expect("never closed"),
        )
    } else {
        None
    };
    let held = Held {
        ops: Some(op),
        buffers,
    };
    let payload = if req.kind == CMD_WRITE {
        receive(r, req.len as usize).await?
    } else {
        Vec::new()
    };
    Ok(Next::Request(Incoming { req, payload, held }))
}

/// Reads exactly `len` bytes into a new buffer, without zeroing it first.
async fn receive<R>(r: &mut R, len: usize) -> io::Result<Vec<u8>>
where
    R: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let want = len - buf.len();
        if (&mut *r).take(want as u64).read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf)
}

/// Answers an invalid request at once; completes a READ from the page cache (or a WRITE the
/// filesystem takes without waiting) on the spot; adds a short WRITE to `writes`, which run
/// together on the blocking pool; starts anything else on the blocking pool.
fn dispatch(
    conn: &Arc<Conn>,
    incoming: Incoming,
    revoked: &watch::Receiver<bool>,
    batch: &mut Outgoing,
    writes: &mut Vec<Incoming>,
) {
    let Incoming { req, payload, held } = incoming;
    if let Err(errno) = validate(&conn.export, &req) {
        tracing::debug!(
            kind = req.kind,
            offset = req.offset,
            len = req.len,
            errno,
            "NBD request refused"
        );
        batch.push_header(simple_reply(errno, req.handle), held);
        return;
    }
    let device = conn.export.device.as_ref();
    let mut read_buf = None;
    if req.len <= INLINE_MAX {
        let done = match req.kind {
            CMD_READ if req.len > INLINE_READ_ALWAYS && conn.in_flight() > 1 => Ok(false),
            CMD_READ => {
                let mut buf = reply_buffer(req.len);
                match device.try_read_at(&mut buf[REPLY_HEADER..], req.offset) {
                    Ok(true) => {
                        buf[..REPLY_HEADER].copy_from_slice(&simple_reply(0, req.handle));
                        batch.push(buf, held);
                        return;
                    }
                    Ok(false) => {
                        read_buf = Some(buf);
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
            // FUA needs a flush, which waits: the blocking pool does both.
            // A write that could wait (ext4 cannot tell) goes to the pool: one volume's
            // write-back must never hold up the runtime that serves the others.
            CMD_WRITE if req.flags & CMD_FLAG_FUA == 0 => device.try_write_at(&payload, req.offset),
            _ => Ok(false),
        };
        match done {
            Ok(true) => return batch.push_header(simple_reply(0, req.handle), held),
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(kind = req.kind, error = %e, "NBD request failed");
                return batch.push_header(simple_reply(errno_of(&e), req.handle), held);
            }
        }
    }
    if req.kind == CMD_WRITE && req.len <= WRITE_BATCH_LEN {
        return writes.push(Incoming { req, payload, held });
    }
    let conn = conn.clone();
    // The device operation holds the revocation receiver: revoke waits for it to finish.
    let guard = revoked.clone();
    tokio::task::spawn_blocking(move || {
        let bytes = reply_of(
            &req,
            run(conn.export.device.as_ref(), &req, payload, read_buf),
        );
        drop(guard);
        conn.send(Outgoing { bytes, held });
    });
}

/// Runs `writes` one after the other on one blocking thread; their replies leave together.
fn run_writes(conn: &Arc<Conn>, writes: Vec<Incoming>, revoked: &watch::Receiver<bool>) {
    let conn = conn.clone();
    let guard = revoked.clone();
    tokio::task::spawn_blocking(move || {
        let device = conn.export.device.as_ref();
        let mut out = Outgoing::default();
        for Incoming { req, payload, held } in writes {
            let reply = reply_of(&req, run(device, &req, payload, None));
            out.push(reply, held);
        }
        drop(guard);
        conn.send(out);
    });
}

/// [`execute`], with a panic of the device turned into an error.
fn run(
    dev: &dyn BlockDevice,
    req: &Request,
    payload: Vec<u8>,
    read_buf: Option<Vec<u8>>,
) -> io::Result<Option<Vec<u8>>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| execute(dev, req, payload, read_buf)))
        .unwrap_or_else(|_| Err(io::Error::other("the device operation panicked")))
}

/// The reply to `req` given its outcome: a READ's data follows the header.
fn reply_of(req: &Request, result: io::Result<Option<Vec<u8>>>) -> Vec<u8> {
    match result {
        Ok(Some(mut reply)) => {
            reply[..REPLY_HEADER].copy_from_slice(&simple_reply(0, req.handle));
            reply
        }
        Ok(None) => simple_reply(0, req.handle).to_vec(),
        Err(e) => {
            tracing::debug!(kind = req.kind, error = %e, "NBD request failed");
            simple_reply(errno_of(&e), req.handle).to_vec()
        }
    }
}

/// A READ's reply: room for its header, then for the data, so that it leaves in one write.
fn reply_buffer(len: u32) -> Vec<u8> {
    vec![0u8; REPLY_HEADER + len as usize]
}

/// The error to answer `req` with without touching the device, if any.
fn validate(export: &Export, req: &Request) -> Result<(), u32> {
    if req.flags & !(CMD_FLAG_FUA | CMD_FLAG_NO_HOLE) != 0 {
        return Err(EINVAL);
    }
    let ranged = match req.kind {
        CMD_READ => true,
        CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES if export.read_only => return Err(EPERM),
        CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES => true,
        CMD_FLUSH => false,
        _ => return Err(EINVAL),
    };
    if req.kind == CMD_READ && req.len > MAX_PAYLOAD {
        return Err(EOVERFLOW);
    }
    if ranged {
        match req.offset.checked_add(u64::from(req.len)) {
            Some(end) if end <= export.device.size() => {}
            _ => return Err(EINVAL),
        }
    }
    Ok(())
}

/// Bytes of a simple reply's header.
const REPLY_HEADER: usize = 16;

/// Runs a validated request on the device; returns a READ's reply (in `read_buf` when given):
/// its header's room, then the data.
fn execute(
    dev: &dyn BlockDevice,
    req: &Request,
    payload: Vec<u8>,
    read_buf: Option<Vec<u8>>,
) -> io::Result<Option<Vec<u8>>> {
    let len = u64::from(req.len);
    match req.kind {
        CMD_READ => {
            let mut buf = read_buf.unwrap_or_else(|| reply_buffer(req.len));
            dev.read_at(&mut buf[REPLY_HEADER..], req.offset)?;
            return Ok(Some(buf));
        }
        CMD_WRITE => dev.write_at(&payload, req.offset)?,
        CMD_FLUSH => dev.flush()?,
        CMD_TRIM => dev.discard(req.offset, len)?,
        CMD_WRITE_ZEROES if req.flags & CMD_FLAG_NO_HOLE != 0 => {
            write_zeroes(dev, req.offset, len)?
        }
        // A discarded range reads back as zeros (the `BlockDevice` contract).
        CMD_WRITE_ZEROES => dev.discard(req.offset, len)?,
        _ => unreachable!("validated"),
    }
    if req.flags & CMD_FLAG_FUA != 0 && req.kind != CMD_FLUSH {
        dev.flush()?;
    }
    Ok(None)
}

fn write_zeroes(dev: &dyn BlockDevice, mut offset: u64, len: u64) -> io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK.min(len) as usize];
    let end = offset + len;
    while offset < end {
        let n = ZERO_CHUNK.min(end - offset) as usize;
        dev.write_at(&zeros[..n], offset)?;
        offset += n as u64;
    }
    Ok(())
}

impl Conn {
    /// Writes `out` whole, now if the socket takes it at once, otherwise from a task of its
    /// own (which gives up after [`REPLY_TIMEOUT`]), so that the caller never waits for the
    /// client. The budget `out` holds is released once it has been written. On failure the
    /// connection is marked broken.
    fn send(self: &Arc<Self>, out: Outgoing) {
        let mut written = 0;
        let guard = match self.writer.clone().try_lock_owned() {
            Ok(mut w) => {
                if *self.broken.borrow() {
                    return;
                }
                match write_now(&mut w, &out.bytes, &mut written) {
                    Ok(true) => return,
                    Ok(false) => Some(w),
                    Err(e) => return self.fail(&e.to_string()),
                }
            }
            Err(_) => None,
        };
        let conn = self.clone();
        tokio::spawn(async move {
            let write = async {
                let mut w = match guard {
                    Some(w) => w,
                    None => conn.writer.clone().lock_owned().await,
                };
                if *conn.broken.borrow() {
                    return Ok(());
                }
                w.write_all(&out.bytes[written..]).await?;
                w.flush().await
            };
            match tokio::time::timeout(REPLY_TIMEOUT, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => conn.fail(&e.to_string()),
                Err(_) => conn.fail("timed out"),
            }
            drop(out);
        });
    }

    fn fail(&self, why: &str) {
        tracing::debug!(error = why, "NBD reply not sent");
        self.broken.send_replace(true);
    }
}

/// Writes what the stream takes without waiting; `Ok(true)` once all of `bytes` (from
/// `written` on, which it advances) is written and flushed.
fn write_now(
    w: &mut OwnedMutexGuard<Writer>,
    bytes: &[u8],
    written: &mut usize,
) -> io::Result<bool> {
    let mut cx = Context::from_waker(Waker::noop());
    let w: &mut Writer = w;
    while *written < bytes.len() {
        match Pin::new(&mut *w).poll_write(&mut cx, &bytes[*written..]) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => *written += n,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(false),
        }
    }
    match Pin::new(w).poll_flush(&mut cx) {
        Poll::Ready(r) => r.map(|()| true),
        Poll::Pending => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(std::sync::Mutex<Vec<u8>>);
    impl BlockDevice for Mem {
        fn size(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let o = offset as usize;
            buf.copy_from_slice(&self.0.lock().unwrap()[o..o + buf.len()]);
            Ok(())
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            let o = offset as usize;
            self.0.lock().unwrap()[o..o + buf.len()].copy_from_slice(buf);
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
        fn discard(&self, _: u64, _: u64) -> io::Result<()> {
            Err(io::Error::other("not here"))
        }
    }

    fn export(read_only: bool) -> Export {
        Export {
            device: Arc::new(Mem(std::sync::Mutex::new(vec![7; 8192]))),
            read_only,
            volume_id: "v".into(),
        }
    }

    fn req(kind: u16, flags: u16, offset: u64, len: u32) -> Request {
        Request {
            flags,
            kind,
            handle: 1,
            offset,
            len,
        }
    }

    #[test]
    fn requests_are_checked_before_the_device_sees_them() {
        let rw = export(false);
        assert_eq!(validate(&rw, &req(CMD_READ, 0, 8192 - 512, 512)), Ok(()));
        assert_eq!(
            validate(&rw, &req(CMD_READ, 0, 8192 - 511, 512)),
            Err(EINVAL)
        );
        assert_eq!(validate(&rw, &req(CMD_READ, 0, u64::MAX, 2)), Err(EINVAL));
        assert_eq!(
            validate(&rw, &req(CMD_READ, 0, 0, MAX_PAYLOAD + 1)),
            Err(EOVERFLOW)
        );
        assert_eq!(validate(&rw, &req(CMD_WRITE, 1 << 7, 0, 1)), Err(EINVAL));
        assert_eq!(validate(&rw, &req(99, 0, 0, 0)), Err(EINVAL));
        assert_eq!(validate(&rw, &req(CMD_FLUSH, 0, 0, 0)), Ok(()));
        let ro = export(true);
        for kind in [CMD_WRITE, CMD_TRIM, CMD_WRITE_ZEROES] {
            assert_eq!(validate(&ro, &req(kind, 0, 0, 1)), Err(EPERM));
        }
        assert_eq!(validate(&ro, &req(CMD_READ, 0, 0, 1)), Ok(()));
    }

    #[test]
    fn write_zeroes_without_holes_writes_zeros() {
        let e = export(false);
        let r = req(CMD_WRITE_ZEROES, CMD_FLAG_NO_HOLE | CMD_FLAG_FUA, 100, 5000);
        execute(e.device.as_ref(), &r, Vec::new(), None).unwrap();
        let reply = execute(
            e.device.as_ref(),
            &req(CMD_READ, 0, 0, 8192),
            Vec::new(),
            None,
        )
        .unwrap()
        .unwrap();
        let data = &reply[REPLY_HEADER..];
        assert!(data[..100].iter().all(|&b| b == 7));
        assert!(data[100..5100].iter().all(|&b| b == 0));
        assert!(data[5100..].iter().all(|&b| b == 7));
    }
}
