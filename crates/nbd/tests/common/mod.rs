//! Test harness: a server over file-backed volumes in a temporary directory, `qemu-io` as the
//! real initiator, and a minimal raw NBD client for what `qemu-io` will not do.
#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use basalt_nbd::{ExportTable, NbdServer};
use basalt_storage::{BlockBackend, BlockDevice, FileBackend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;

pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_STARTTLS: u32 = 5;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;
pub const OPT_STRUCTURED_REPLY: u32 = 8;

pub const REP_ACK: u32 = 1;
pub const REP_SERVER: u32 = 2;
pub const REP_INFO: u32 = 3;
pub const REP_ERR_UNSUP: u32 = (1 << 31) | 1;
pub const REP_ERR_POLICY: u32 = (1 << 31) | 2;
pub const REP_ERR_INVALID: u32 = (1 << 31) | 3;
pub const REP_ERR_TLS_REQD: u32 = (1 << 31) | 5;
pub const REP_ERR_UNKNOWN: u32 = (1 << 31) | 6;

pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_WRITE_ZEROES: u16 = 6;

pub const EPERM: u32 = 1;
pub const EINVAL: u32 = 22;
pub const EOVERFLOW: u32 = 75;

pub const GIB: u64 = 1 << 30;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub backend: FileBackend,
    pub table: ExportTable,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Fixture {
    pub async fn start() -> Self {
        Self::start_with(None, false).await
    }

    pub async fn start_with(tls: Option<Arc<rustls::ServerConfig>>, tls_required: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = FileBackend::new(dir.path().join("volumes"), 1.0, 0).unwrap();
        let table = ExportTable::new();
        let server = NbdServer::bind("127.0.0.1:0", table.clone(), tls, tls_required)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Self {
            dir,
            backend,
            table,
            addr,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A new 1 GiB volume: its device and the path of its file.
    pub async fn volume(&self, name: &str) -> (Arc<dyn BlockDevice>, PathBuf) {
        self.backend.create(name, 1).await.unwrap();
        let device = self.backend.open(name).await.unwrap();
        (device, self.backend.volume_path(name).unwrap())
    }

    /// Creates volume `name` and exports it; returns the export name and the file's path.
    pub async fn export(&self, name: &str, read_only: bool) -> (String, PathBuf) {
        let (device, path) = self.volume(name).await;
        (self.table.issue(name, device, read_only), path)
    }

    pub fn uri(&self, export: &str) -> String {
        format!("nbd://{}/{}", self.addr, export)
    }

    /// Stops the server and waits for it to return.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .expect("the server stops")
                .unwrap();
        }
    }
}

/// Output of a `qemu-io` run.
pub struct QemuIo {
    pub ok: bool,
    pub output: String,
}

impl QemuIo {
    /// Whether every command succeeded: a zero exit status and no error in the output.
    pub fn succeeded(&self) -> bool {
        let lower = self.output.to_lowercase();
        self.ok && !lower.contains("error") && !lower.contains("failed")
    }
}

/// Runs `qemu-io` with `args`, panicking (not skipping) when it is not installed.
pub async fn qemu_io(args: &[&str]) -> QemuIo {
    let run = tokio::process::Command::new("qemu-io")
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("qemu-io finishes within 60 s")
        .expect("qemu-io (qemu-utils) must be installed to run these tests");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown when a test fails (the harness captures it otherwise).
    eprintln!("qemu-io {args:?} -> {}\n{output}", out.status);
    QemuIo {
        ok: out.status.success(),
        output,
    }
}

/// `qemu-io -f raw` with one `-c` per command on `uri`.
pub async fn qemu_io_uri(uri: &str, extra: &[&str], commands: &[&str]) -> QemuIo {
    let mut args: Vec<&str> = vec!["-f", "raw"];
    args.extend_from_slice(extra);
    for c in commands {
        args.push("-c");
        args.push(c);
    }
    args.push(uri);
    qemu_io(&args).await
}

pub fn file_range(path: &PathBuf, offset: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

/// A minimal NBD client that speaks exactly what a test tells it to.
pub struct Raw<S> {
    pub s: S,
}

impl Raw<TcpStream> {
    /// Connects and completes the handshake with fixed newstyle and no zeroes.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut raw = Self::connect_plain(addr).await;
        raw.s.write_u32(0b11).await.unwrap();
        raw
    }

    /// Connects and reads the greeting, without answering it.
    pub async fn connect_plain(addr: SocketAddr) -> Self {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(s.read_u64().await.unwrap(), 0x4e42_444d_4147_4943);
        assert_eq!(s.read_u64().await.unwrap(), IHAVEOPT);
        assert_eq!(
            s.read_u16().await.unwrap(),
            0b11,
            "fixed newstyle, no zeroes"
        );
        Self { s }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub async fn send_option(&mut self, option: u32, data: &[u8]) {
        let mut b = IHAVEOPT.to_be_bytes().to_vec();
        b.extend_from_slice(&option.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.s.write_all(&b).await.unwrap();
    }

    /// Reads one option reply: (option, reply type, data).
    pub async fn option_reply(&mut self) -> (u32, u32, Vec<u8>) {
        assert_eq!(self.s.read_u64().await.unwrap(), REPLY_MAGIC);
        let option = self.s.read_u32().await.unwrap();
        let kind = self.s.read_u32().await.unwrap();
        let len = self.s.read_u32().await.unwrap();
        let mut data = vec![0; len as usize];
        self.s.read_exact(&mut data).await.unwrap();
        (option, kind, data)
    }

    /// Sends an option and returns the reply type of its single reply.
    pub async fn option(&mut self, option: u32, data: &[u8]) -> u32 {
        self.send_option(option, data).await;
        let (echo, kind, _) = self.option_reply().await;
        assert_eq!(echo, option);
        kind
    }

    /// `NBD_OPT_INFO` or `NBD_OPT_GO` for `name`, asking for the block sizes. On success
    /// returns (size, transmission flags, block sizes if sent); otherwise the error reply.
    pub async fn info_or_go(
        &mut self,
        option: u32,
        name: &str,
    ) -> Result<(u64, u16, Option<[u32; 3]>), u32> {
        let mut data = (name.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(&1u16.to_be_bytes());
        data.extend_from_slice(&3u16.to_be_bytes());
        self.send_option(option, &data).await;
        let mut export = None;
        let mut sizes = None;
        loop {
            let (echo, kind, data) = self.option_reply().await;
            assert_eq!(echo, option);
            match kind {
                REP_INFO => match u16::from_be_bytes([data[0], data[1]]) {
                    0 => {
                        let size = u64::from_be_bytes(data[2..10].try_into().unwrap());
                        let flags = u16::from_be_bytes([data[10], data[11]]);
                        export = Some((size, flags));
                    }
                    3 => {
                        let at = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
                        sizes = Some([at(2), at(6), at(10)]);
                    }
                    other => panic!("unexpected info {other}"),
                },
                REP_ACK => {
                    let (size, flags) = export.expect("NBD_INFO_EXPORT before ACK");
                    return Ok((size, flags, sizes));
                }
                err => return Err(err),
            }
        }
    }

    pub async fn go(&mut self, name: &str) -> (u64, u16) {
        let (size, flags, _) = self.info_or_go(OPT_GO, name).await.expect("GO succeeds");
        (size, flags)
    }

    pub async fn request(&mut self, kind: u16, flags: u16, handle: u64, offset: u64, len: u32) {
        let mut b = REQUEST_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.extend_from_slice(&handle.to_be_bytes());
        b.extend_from_slice(&offset.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        self.s.write_all(&b).await.unwrap();
    }

    pub async fn write(&mut self, handle: u64, offset: u64, data: &[u8]) {
        self.request(CMD_WRITE, 0, handle, offset, data.len() as u32)
            .await;
        self.s.write_all(data).await.unwrap();
    }

    /// Reads a simple reply header: (error, handle).
    pub async fn reply(&mut self) -> (u32, u64) {
        assert_eq!(self.s.read_u32().await.unwrap(), 0x6744_6698);
        let error = self.s.read_u32().await.unwrap();
        let handle = self.s.read_u64().await.unwrap();
        (error, handle)
    }

    pub async fn read_data(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.s.read_exact(&mut buf).await.unwrap();
        buf
    }

    /// Reads a whole successful READ of `len` bytes with `handle`.
    pub async fn read(&mut self, handle: u64, offset: u64, len: u32) -> Vec<u8> {
        self.request(CMD_READ, 0, handle, offset, len).await;
        assert_eq!(self.reply().await, (0, handle));
        self.read_data(len as usize).await
    }

    /// Asserts that the server closes the connection (EOF or reset) within five seconds.
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match self.s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        });
        read.await.expect("the server closes the connection");
    }
}

/// Counts flushes on the way to the real device.
pub struct CountingFlushes {
    inner: Arc<dyn BlockDevice>,
    flushes: std::sync::atomic::AtomicUsize,
}

impl CountingFlushes {
    pub fn new(inner: Arc<dyn BlockDevice>) -> Self {
        Self {
            inner,
            flushes: Default::default(),
        }
    }

    pub fn flushes(&self) -> usize {
        self.flushes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl BlockDevice for CountingFlushes {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn flush(&self) -> std::io::Result<()> {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.flush()
    }
    fn discard(&self, offset: u64, len: u64) -> std::io::Result<()> {
        self.inner.discard(offset, len)
    }
}
