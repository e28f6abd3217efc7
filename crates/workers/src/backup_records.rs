//! The repository's records for the API (`BackupRecords`): `backup_url` is base64 of
//! `{"body": <JSON text>, "sha256": <hex of the body>}`, the body holding the backup's row
//! and the repository's own checksummed manifest. The outer checksum covers the row, the
//! manifest's covers the chunk list: a changed or truncated record fails one of them before
//! anything is written.

use basalt_backup::{BackupError, Manifest, Repository};
use basalt_domain::backup::{Backup, BackupRecords, RecordError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: u32,
    backup: Backup,
    /// The repository's record (its manifest, JSON with its own checksum).
    manifest: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    body: String,
    sha256: String,
}

pub struct RepositoryRecords {
    repo: Repository,
}

impl RepositoryRecords {
    pub fn new(repo: Repository) -> Self {
        RepositoryRecords { repo }
    }
}

fn repo_error(e: BackupError) -> RecordError {
    match e {
        BackupError::InvalidManifest { .. } | BackupError::InvalidId(_) => {
            RecordError::Invalid(e.to_string())
        }
        BackupError::ImportMissingChunks { .. } | BackupError::ImportConflict(_) => {
            RecordError::Refused(format!("{e}."))
        }
        other => RecordError::Failed(other.to_string()),
    }
}

async fn blocking<T, F>(f: F) -> Result<T, RecordError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, RecordError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecordError::Failed(format!("the backup thread failed: {e}")))?
}

/// Decodes and checks a `backup_url`: the backup and the repository record it carries.
fn decode(url: &str) -> Result<(Backup, Vec<u8>), RecordError> {
    let invalid = |why: &str| RecordError::Invalid(why.to_owned());
    let raw = STANDARD
        .decode(url.trim())
        .map_err(|_| invalid("the record is not base64"))?;
    let env: Envelope =
        serde_json::from_slice(&raw).map_err(|_| invalid("the record is not a Basalt record"))?;
    if hex::encode(Sha256::digest(env.body.as_bytes())) != env.sha256 {
        return Err(invalid("the record does not match its checksum"));
    }
    let body: Body =
        serde_json::from_str(&env.body).map_err(|e| RecordError::Invalid(e.to_string()))?;
    if body.format != FORMAT {
        return Err(invalid("the record is of an unknown format"));
    }
    let manifest =
        Manifest::from_bytes(body.manifest.as_bytes(), "imported record").map_err(repo_error)?;
    if manifest.id != body.backup.id {
        return Err(invalid("the record's manifest is of another backup"));
    }
    Ok((body.backup, body.manifest.into_bytes()))
}

#[basalt_domain::async_trait]
impl BackupRecords for RepositoryRecords {
    async fn export(&self, b: &Backup) -> Result<String, RecordError> {
        let repo = self.repo.clone();
        let id = b.id.clone();
        let record = blocking(move || repo.export_record(&id).map_err(repo_error)).await?;
        let manifest = String::from_utf8(record)
            .map_err(|_| RecordError::Failed("the manifest is not UTF-8".into()))?;
        let body = serde_json::to_string(&Body {
            format: FORMAT,
            backup: b.clone(),
            manifest,
        })
        .map_err(|e| RecordError::Failed(e.to_string()))?;
        let env = Envelope {
            sha256: hex::encode(Sha256::digest(body.as_bytes())),
            body,
        };
        let json = serde_json::to_vec(&env).map_err(|e| RecordError::Failed(e.to_string()))?;
        Ok(STANDARD.encode(json))
    }

    async fn read(&self, backup_url: &str) -> Result<Backup, RecordError> {
        decode(backup_url).map(|(b, _)| b)
    }

    async fn import(&self, backup_url: &str) -> Result<(), RecordError> {
        let (_, record) = decode(backup_url)?;
        let repo = self.repo.clone();
        blocking(move || repo.import_record(&record).map(|_| ()).map_err(repo_error)).await
    }

    async fn holds(&self, id: &str) -> Result<bool, RecordError> {
        let repo = self.repo.clone();
        let id = id.to_owned();
        blocking(move || match repo.manifest(&id) {
            Ok(_) => Ok(true),
            Err(BackupError::NotFound(_) | BackupError::InvalidManifest { .. }) => Ok(false),
            Err(e) => Err(repo_error(e)),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_records_are_invalid() {
        assert!(matches!(decode("%%%"), Err(RecordError::Invalid(_))));
        let env = Envelope {
            body: "{}".into(),
            sha256: "00".into(),
        };
        let url = STANDARD.encode(serde_json::to_vec(&env).unwrap());
        assert!(matches!(decode(&url), Err(RecordError::Invalid(_))));
        assert!(matches!(
            decode(&url[..url.len() / 2]),
            Err(RecordError::Invalid(_))
        ));
    }
}
