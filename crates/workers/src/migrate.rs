//! A migration's storage work: the volume's data is copied, under the same name, from one
//! backend to another through their block devices (so any two backends work together).
//! Only data regions are read (`SEEK_DATA`/`SEEK_HOLE` when the device knows them) and
//! all-zero chunks are not written, so a thin volume stays thin. A retry starts the copy
//! afresh: the destination copy is dropped and made again. One copy runs at a time, and a
//! copy starts only while the volume's migration is under way.

use std::sync::Arc;
use std::time::Instant;

use basalt_storage::{BlockBackend, BlockDevice, StorageError};

use crate::manager::{explain, Failure, VolumeManager};

/// Bytes read and written at a time.
const CHUNK: usize = 8 << 20;

pub(crate) async fn run(
    m: &VolumeManager,
    id: &str,
    from: &str,
    to: &str,
    size_gib: u64,
) -> Result<(), Failure> {
    let src = m.on(from)?.clone();
    let dst = m.on(to)?.clone();
    let _copying = m.copying.lock().await;
    if !m.still_migrating(id).await? {
        // Run again after its migration ended (or was reset): the copies belong to others.
        tracing::warn!(volume = id, "migration no longer under way; nothing copied");
        return Ok(());
    }
    m.phase(id, "starting", "migrating").await;
    let started = Instant::now();
    let written = copy_volume(&src, &dst, id, size_gib)
        .await
        .map_err(|e| explain(to, e))?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        volume = id,
        from,
        to,
        written_mib = written >> 20,
        mib_per_s = (written as f64 / (1 << 20) as f64 / secs.max(1e-6)) as u64,
        "volume data copied"
    );
    m.phase(id, "migrating", "completing").await;
    Ok(())
}

/// Copies volume `name` of `src` into a new volume of `dst`; returns the bytes written.
pub async fn copy_volume(
    src: &Arc<dyn BlockBackend>,
    dst: &Arc<dyn BlockBackend>,
    name: &str,
    size_gib: u64,
) -> Result<u64, StorageError> {
    let from = src.open(name).await?;
    dst.delete(name).await?;
    dst.create(name, size_gib).await?;
    let to = dst.open(name).await?;
    if from.size() > to.size() {
        return Err(StorageError::InvalidSize(format!(
            "volume {name} holds {} bytes, more than {size_gib} GiB",
            from.size()
        )));
    }
    tokio::task::spawn_blocking(move || copy_device(from.as_ref(), to.as_ref()))
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
        .map_err(StorageError::Io)
}

fn copy_device(from: &dyn BlockDevice, to: &dyn BlockDevice) -> std::io::Result<u64> {
    let whole = std::iter::once(0..from.size()).collect();
    let ranges: Vec<std::ops::Range<u64>> = from.data_ranges()?.unwrap_or(whole);
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0;
    for r in ranges {
        let mut offset = r.start;
        while offset < r.end {
            let n = CHUNK.min((r.end - offset) as usize);
            let chunk = &mut buf[..n];
            from.read_at(chunk, offset)?;
            if chunk.iter().any(|b| *b != 0) {
                to.write_at(chunk, offset)?;
                written += n as u64;
            }
            offset += n as u64;
        }
    }
    to.flush()?;
    Ok(written)
}
