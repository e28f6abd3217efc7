//! What a new volume asks of the scheduler (its zone, size, type's extra specs, and the hosts
//! its `same_host` / `different_host` hints name), and the checks that answer 400 at once
//! rather than leave an errored volume: an unknown zone, and a size that no pool of the zone
//! could ever hold.

use crate::backends::{Candidate, Placement};
use crate::error::DomainError;
use crate::ports::VolumeStore;
use crate::volume::NewVolume;
use crate::volume_type::VolumeType;

/// The volume service (`host@backend`) a volume lives on.
async fn service_of(store: &dyn VolumeStore, id: &str) -> Result<Option<String>, DomainError> {
    Ok(store
        .get_volume(id)
        .await?
        .and_then(|v| v.host)
        .map(|h| h.split('#').next().unwrap_or_default().to_owned()))
}

pub(super) async fn request(
    store: &dyn VolumeStore,
    req: &NewVolume,
    ty: &VolumeType,
    size: i64,
    zone: &str,
) -> Result<Placement, DomainError> {
    let mut same_host = None;
    if !req.same_host.is_empty() {
        let mut hosts = Vec::new();
        for id in &req.same_host {
            // An unknown volume names no host, so nothing can be beside it.
            hosts.extend(service_of(store, id).await?);
        }
        same_host = Some(hosts);
    }
    let mut different_host = Vec::new();
    for id in &req.different_host {
        different_host.extend(service_of(store, id).await?);
    }
    Ok(Placement {
        size_gib: size,
        availability_zone: zone.to_owned(),
        extra_specs: ty.extra_specs.clone(),
        same_host,
        different_host,
        exclude: vec![],
    })
}

pub(super) fn check_zone(
    candidates: &[Candidate],
    zone: &str,
    size: i64,
) -> Result<(), DomainError> {
    let in_zone: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.availability_zone == zone)
        .collect();
    let Some(largest) = in_zone.iter().max_by_key(|c| c.stats.provisionable_gib()) else {
        return Err(DomainError::BadRequest(format!(
            "Availability zone '{zone}' is invalid."
        )));
    };
    let max = largest.stats.provisionable_gib();
    if size > max {
        return Err(DomainError::InvalidInput(format!(
            "Volume size {size}G is larger than backend '{}' can ever hold ({max}G).",
            largest.backend
        )));
    }
    Ok(())
}
