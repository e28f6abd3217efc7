//! The transmission phase of one connection. Requests are read in order by the connection's
//! task and each valid one runs on tokio's blocking pool, so several are in flight at once
//! (at most [`MAX_OPS`], holding at most [`BUFFER_BUDGET`] bytes of payload); replies go out
//! in completion order, whole, under one lock. The connection ends on DISC, EOF, a protocol
//! violation, a write failure, server shutdown or revocation of its export, and waits (for a
//! bounded time) for the replies of requests already accepted.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use basalt_storage::BlockDevice;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{watch, Mutex, OwnedSemaphorePermit, Semaphore};

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

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// What one connection shares with its in-flight requests.
struct Conn {
    export: Arc<Export>,
    writer: Mutex<Writer>,
    /// Set when a reply could not be written: the stream is unusable.
    broken: watch::Sender<bool>,
    ops: Arc<Semaphore>,
    buffers: Arc<Semaphore>,
}

/// A request read whole from the stream, with the budget it holds until it is answered.
struct Incoming {
    req: Request,
    payload: Vec<u8>,
    _permits: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
}

enum Next {
    Request(Incoming),
    Eof,
    /// A WRITE whose payload cannot be skipped: answered, then the connection ends.
    Unsyncable(Request),
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
        writer: Mutex::new(writer),
        broken: watch::channel(false).0,
        ops: Arc::new(Semaphore::new(MAX_OPS as usize)),
        buffers: Arc::new(Semaphore::new((BUFFER_BUDGET / BUFFER_UNIT) as usize)),
    });
    let mut broken = conn.broken.subscribe();
    let mut reader = BufReader::with_capacity(16 << 10, reader);
    tracing::debug!(
        volume_id = conn.export.volume_id,
        "NBD transmission started"
    );
    let end = loop {
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
            Ok(Next::Request(incoming)) => dispatch(&conn, incoming, &revoked).await,
            Ok(Next::Eof) => break "client closed the connection",
            Ok(Next::Unsyncable(req)) => {
                tracing::warn!(len = req.len, "NBD WRITE larger than the maximum payload");
                conn.reply(req.handle, EOVERFLOW, None).await;
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
        return Ok(Next::Unsyncable(req));
    }
    let buffer = if carries_data && req.len <= MAX_PAYLOAD {
        let units = req.len.div_ceil(BUFFER_UNIT).max(1);
        Some(
            conn.buffers
                .clone()
                .acquire_many_owned(units)
                .await
                .expect("never closed"),
        )
    } else {
        None
    };
    let mut payload = Vec::new();
    if req.kind == CMD_WRITE {
        payload = vec![0u8; req.len as usize];
        r.read_exact(&mut payload).await?;
    }
    Ok(Next::Request(Incoming {
        req,
        payload,
        _permits: (op, buffer),
    }))
}

/// Answers an invalid request at once, or starts a valid one on the blocking pool.
async fn dispatch(conn: &Arc<Conn>, incoming: Incoming, revoked: &watch::Receiver<bool>) {
    let req = incoming.req;
    if let Err(errno) = validate(&conn.export, &req) {
        tracing::debug!(
            kind = req.kind,
            offset = req.offset,
            len = req.len,
            errno,
            "NBD request refused"
        );
        conn.reply(req.handle, errno, None).await;
        return;
    }
    let conn = conn.clone();
    // The device operation holds the revocation receiver: revoke waits for it to finish.
    let guard = revoked.clone();
    tokio::spawn(async move {
        let device = conn.export.device.clone();
        let Incoming {
            req,
            payload,
            _permits,
        } = incoming;
        let result = tokio::task::spawn_blocking(move || {
            let result = execute(device.as_ref(), &req, payload);
            drop(guard);
            result
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match result {
            Ok(data) => conn.reply(req.handle, 0, data).await,
            Err(e) => {
                tracing::debug!(kind = req.kind, error = %e, "NBD request failed");
                conn.reply(req.handle, errno_of(&e), None).await
            }
        }
        drop(_permits);
    });
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

/// Runs a validated request on the device; returns a READ's reply: its header's room, then the
/// data.
fn execute(dev: &dyn BlockDevice, req: &Request, payload: Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let len = u64::from(req.len);
    match req.kind {
        CMD_READ => {
            // Room for the reply header in front, so the reply leaves in one write.
            let mut buf = vec![0u8; REPLY_HEADER + req.len as usize];
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
    /// Writes one simple reply, whole; on failure marks the connection broken.
    async fn reply(&self, handle: u64, errno: u32, data: Option<Vec<u8>>) {
        let write = async {
            let mut w = self.writer.lock().await;
            if *self.broken.borrow() {
                return Ok(());
            }
            match data {
                // One write per reply: the header goes in the room left for it.
                Some(mut reply) => {
                    reply[..REPLY_HEADER].copy_from_slice(&simple_reply(errno, handle));
                    w.write_all(&reply).await?;
                }
                None => w.write_all(&simple_reply(errno, handle)).await?,
            }
            w.flush().await
        };
        let failed = match tokio::time::timeout(REPLY_TIMEOUT, write).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::debug!(error = failed, "NBD reply not sent");
        self.broken.send_replace(true);
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
        execute(e.device.as_ref(), &r, Vec::new()).unwrap();
        let reply = execute(e.device.as_ref(), &req(CMD_READ, 0, 0, 8192), Vec::new())
            .unwrap()
            .unwrap();
        let data = &reply[REPLY_HEADER..];
        assert!(data[..100].iter().all(|&b| b == 7));
        assert!(data[100..5100].iter().all(|&b| b == 0));
        assert!(data[5100..].iter().all(|&b| b == 7));
    }
}
