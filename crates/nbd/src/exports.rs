//! The export table: which volumes are served, under which unguessable names. A name is the
//! only credential a client presents, so it is 256 random bits and is never listed. Revoking an
//! export closes every connection serving it and returns only after the device operations they
//! had started have finished.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use basalt_storage::BlockDevice;
use rand::RngCore;
use tokio::sync::watch;

/// One issued export.
pub struct Export {
    pub device: Arc<dyn BlockDevice>,
    pub read_only: bool,
    pub volume_id: String,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("volume_id", &self.volume_id)
            .field("read_only", &self.read_only)
            .field("size", &self.device.size())
            .finish()
    }
}

struct Entry {
    export: Arc<Export>,
    /// Set to `true` on revocation. Every connection serving the export, and every device
    /// operation it started, holds a receiver: revocation waits until they are all dropped.
    revoked: watch::Sender<bool>,
}

/// Shared map of export names to exports; cloning it is cheap and every clone sees the same
/// exports.
#[derive(Clone, Default)]
pub struct ExportTable {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

/// A connection's hold on an export: the export, and the revocation signal it must obey.
pub(crate) struct Attachment {
    pub export: Arc<Export>,
    pub revoked: watch::Receiver<bool>,
}

impl ExportTable {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The map is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Exports `device` for volume `volume_id` and returns the new export's name: 64 hex
    /// digits (256 bits from the OS-seeded CSPRNG) that the client puts in its NBD URI.
    pub fn issue(&self, volume_id: &str, device: Arc<dyn BlockDevice>, read_only: bool) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let name = bytes.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        let entry = Entry {
            export: Arc::new(Export {
                device,
                read_only,
                volume_id: volume_id.to_owned(),
            }),
            revoked: watch::channel(false).0,
        };
        self.lock().insert(name.clone(), entry);
        tracing::debug!(volume_id, read_only, "NBD export issued");
        name
    }

    /// Exports `device` again under a name issued before (after a restart, so that the
    /// connectors that know the name reconnect). Refused when the name is taken or is not
    /// one this table could have issued (64 hex digits).
    pub fn issue_named(
        &self,
        name: &str,
        volume_id: &str,
        device: Arc<dyn BlockDevice>,
        read_only: bool,
    ) -> Result<(), String> {
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{name}' is not an export name this server issues"));
        }
        let mut entries = self.lock();
        if entries.contains_key(name) {
            return Err(format!("export name {name} is already in use"));
        }
        entries.insert(
            name.to_owned(),
            Entry {
                export: Arc::new(Export {
                    device,
                    read_only,
                    volume_id: volume_id.to_owned(),
                }),
                revoked: watch::channel(false).0,
            },
        );
        tracing::debug!(volume_id, read_only, "NBD export restored");
        Ok(())
    }

    /// The export called `name`, if issued and not revoked.
    pub fn get(&self, name: &str) -> Option<Arc<Export>> {
        self.lock().get(name).map(|e| e.export.clone())
    }

    /// Number of exports currently issued.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn attach(&self, name: &str) -> Option<Attachment> {
        self.lock().get(name).map(|e| Attachment {
            export: e.export.clone(),
            revoked: e.revoked.subscribe(),
        })
    }

    /// Withdraws export `name` and closes every connection serving it. Returns once those
    /// connections have ended and the device operations they started (an in-flight write, say)
    /// have completed or failed; `false` when no such export was issued.
    pub async fn revoke(&self, name: &str) -> bool {
        let entry = self.lock().remove(name);
        match entry {
            Some(entry) => {
                close_and_wait(entry).await;
                true
            }
            None => false,
        }
    }

    /// Withdraws every export of volume `volume_id` as [`revoke`](Self::revoke) does; returns
    /// how many there were.
    pub async fn revoke_volume(&self, volume_id: &str) -> usize {
        let removed: Vec<Entry> = {
            let mut entries = self.lock();
            let names: Vec<String> = entries
                .iter()
                .filter(|(_, e)| e.export.volume_id == volume_id)
                .map(|(name, _)| name.clone())
                .collect();
            names.iter().filter_map(|n| entries.remove(n)).collect()
        };
        let count = removed.len();
        for entry in removed {
            close_and_wait(entry).await;
        }
        count
    }
}

async fn close_and_wait(entry: Entry) {
    entry.revoked.send_replace(true);
    entry.revoked.closed().await;
    tracing::debug!(volume_id = entry.export.volume_id, "NBD export revoked");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    struct Null;
    impl BlockDevice for Null {
        fn size(&self) -> u64 {
            0
        }
        fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<()> {
            Ok(())
        }
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
        fn discard(&self, _: u64, _: u64) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn names_are_long_random_and_distinct() {
        let table = ExportTable::new();
        let a = table.issue("vol", Arc::new(Null), false);
        let b = table.issue("vol", Arc::new(Null), true);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(table.get(&b).unwrap().read_only);
        assert_eq!(table.revoke_volume("vol").await, 2);
        assert!(table.is_empty());
        assert!(!table.revoke(&a).await);
    }

    #[tokio::test]
    async fn a_name_issued_before_can_be_issued_again_once() {
        let table = ExportTable::new();
        let name = table.issue("vol", Arc::new(Null), false);
        assert!(table.revoke(&name).await);
        table
            .issue_named(&name, "vol", Arc::new(Null), true)
            .unwrap();
        assert!(table.get(&name).unwrap().read_only);
        assert!(table
            .issue_named(&name, "vol", Arc::new(Null), true)
            .is_err());
        assert!(table
            .issue_named("short", "vol", Arc::new(Null), true)
            .is_err());
    }

    #[tokio::test]
    async fn revoke_waits_for_attached_connections() {
        let table = ExportTable::new();
        let name = table.issue("vol", Arc::new(Null), false);
        let mut att = table.attach(&name).unwrap();
        let holder = tokio::spawn(async move {
            att.revoked.wait_for(|r| *r).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            drop(att);
        });
        let start = std::time::Instant::now();
        assert!(table.revoke(&name).await);
        assert!(start.elapsed() >= std::time::Duration::from_millis(100));
        assert!(table.attach(&name).is_none());
        holder.await.unwrap();
    }
}
