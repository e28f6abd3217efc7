//! Serves one file through the NBD server, for measuring it by hand:
//! `cargo run --release -p basalt-nbd --example serve_file -- FILE PORT` prints the export's
//! URI and serves until killed.

use std::sync::Arc;

use basalt_nbd::{ExportTable, NbdServer};
use basalt_storage::FileDevice;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(port)) = (args.next(), args.next()) else {
        return Err("usage: serve_file FILE PORT".into());
    };
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&path)?;
    let table = ExportTable::new();
    let name = table.issue("bench", Arc::new(FileDevice::new(file)?), false);
    let server = NbdServer::bind(("127.0.0.1", port.parse::<u16>()?), table, None, false).await?;
    println!("nbd://127.0.0.1:{port}/{name}");
    server.run(std::future::pending()).await;
    Ok(())
}
