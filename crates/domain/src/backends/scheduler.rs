//! The scheduler: the pools a new volume may go to (filters) and the best of them (a
//! capacity weigher), after Cinder's filter scheduler. Filters: the service is up and
//! enabled, in the requested availability zone, has the capabilities the type's extra specs
//! ask for, honours `same_host` / `different_host` hints, and has room (thin provisioning
//! within the over-subscription ratio and the reserve). The weigher prefers the pool with
//! the most room left. Pure: the caller reads the candidates and writes the choice, with a
//! capacity guard in the same transaction so two creates cannot both take the last room.

use serde_json::Value;

use super::specs::unmet;
use super::PoolStats;
use crate::volume_type::ExtraSpecs;

/// A pool a volume could go to, with what is provisioned on it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The volume service, `host@backend`.
    pub service_host: String,
    /// The pool, `host@backend#pool`: what a volume's `host` says.
    pub pool: String,
    pub backend: String,
    pub availability_zone: String,
    /// Up (recent heartbeat) and not disabled by an operator.
    pub usable: bool,
    pub stats: PoolStats,
    pub provisioned_gib: i64,
}

impl Candidate {
    /// The most a new volume may take now (the capacity filter).
    pub fn room_gib(&self) -> i64 {
        self.stats.fits_now_gib(self.provisioned_gib)
    }

    /// Cinder's capacity weigher for thin pools: virtual free capacity, total times the
    /// ratio less the reserve and what is provisioned.
    pub fn weight(&self) -> i64 {
        self.stats.provisionable_gib() - self.provisioned_gib
    }
}

/// What is asked of the pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    pub size_gib: i64,
    pub availability_zone: String,
    pub extra_specs: ExtraSpecs,
    /// The service hosts (`host@backend`) of the volumes named by `same_host` hints.
    pub same_host: Option<Vec<String>>,
    pub different_host: Vec<String>,
    /// Pools already tried (a capacity race was lost there).
    pub exclude: Vec<String>,
}

/// Why nothing fits, for the volume's `status_reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValidBackend(pub String);

impl NoValidBackend {
    pub fn message(&self) -> String {
        format!("No valid backend was found. {}", self.0)
    }
}

/// The chosen pool, or why there is none. Ties go to the pool whose name sorts first, so the
/// choice is deterministic.
pub fn choose<'a>(
    candidates: &'a [Candidate],
    p: &Placement,
) -> Result<&'a Candidate, NoValidBackend> {
    let zone = &p.availability_zone;
    let mut left: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !p.exclude.contains(&c.pool))
        .filter(|c| &c.availability_zone == zone)
        .collect();
    if left.is_empty() {
        return Err(NoValidBackend(format!(
            "No volume service in availability zone '{zone}'."
        )));
    }
    left.retain(|c| c.usable);
    if left.is_empty() {
        return Err(NoValidBackend(format!(
            "Every volume service in availability zone '{zone}' is down or disabled."
        )));
    }
    let mut missing = None;
    left.retain(|c| {
        let caps = serde_json::to_value(&c.stats).unwrap_or(Value::Null);
        match unmet(&p.extra_specs, &caps) {
            None => true,
            Some(key) => {
                missing.get_or_insert_with(|| key.to_owned());
                false
            }
        }
    });
    if left.is_empty() {
        return Err(NoValidBackend(format!(
            "No backend in availability zone '{zone}' has the capabilities the volume type asks \
             for ({}).",
            missing.unwrap_or_default()
        )));
    }
    if let Some(same) = &p.same_host {
        left.retain(|c| same.contains(&c.service_host));
    }
    left.retain(|c| !p.different_host.contains(&c.service_host));
    if left.is_empty() {
        return Err(NoValidBackend(
            "No backend satisfies the scheduler hints (same_host, different_host).".into(),
        ));
    }
    let most = left.iter().map(|c| c.room_gib()).max().unwrap_or(0);
    left.retain(|c| c.room_gib() >= p.size_gib);
    left.sort_by(|a, b| b.weight().cmp(&a.weight()).then(a.pool.cmp(&b.pool)));
    left.first().copied().ok_or_else(|| {
        NoValidBackend(format!(
            "No backend in availability zone '{zone}' has room for {}G now (the most any has: \
             {most}G).",
            p.size_gib
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(name: &str, total: f64) -> PoolStats {
        PoolStats {
            pool_name: name.into(),
            volume_backend_name: name.into(),
            vendor_name: "Basalt".into(),
            driver_version: "1".into(),
            storage_protocol: "nbd".into(),
            total_capacity_gb: total,
            free_capacity_gb: total,
            allocated_capacity_gb: 0.0,
            max_over_subscription_ratio: 1.0,
            reserved_percentage: 0,
            thin_provisioning_support: true,
            thick_provisioning_support: false,
            qos_support: true,
            multiattach: true,
            reflink: false,
        }
    }

    fn cand(backend: &str, zone: &str, total: f64, provisioned: i64) -> Candidate {
        Candidate {
            service_host: format!("h@{backend}"),
            pool: format!("h@{backend}#{backend}"),
            backend: backend.into(),
            availability_zone: zone.into(),
            usable: true,
            stats: stats(backend, total),
            provisioned_gib: provisioned,
        }
    }

    fn place(size: i64, zone: &str) -> Placement {
        Placement {
            size_gib: size,
            availability_zone: zone.into(),
            ..Placement::default()
        }
    }

    #[test]
    fn the_pool_with_most_room_in_the_zone_wins() {
        let c = [
            cand("a", "nova", 100.0, 10),
            cand("b", "nova", 100.0, 50),
            cand("c", "other", 1000.0, 0),
        ];
        assert_eq!(choose(&c, &place(5, "nova")).unwrap().backend, "a");
        assert_eq!(choose(&c, &place(5, "other")).unwrap().backend, "c");
        let e = choose(&c, &place(95, "nova")).unwrap_err();
        assert!(e.message().starts_with("No valid backend was found."));
        assert!(e.0.contains("the most any has: 90G"), "{}", e.0);
    }

    #[test]
    fn down_disabled_and_excluded_pools_are_skipped() {
        let mut a = cand("a", "nova", 100.0, 0);
        a.usable = false;
        let c = [a, cand("b", "nova", 10.0, 0)];
        assert_eq!(choose(&c, &place(1, "nova")).unwrap().backend, "b");
        let mut p = place(1, "nova");
        p.exclude = vec!["h@b#b".into()];
        assert!(choose(&c, &p).unwrap_err().0.contains("down or disabled"));
    }

    #[test]
    fn extra_specs_and_hints_narrow_the_choice() {
        let c = [
            cand("fast", "nova", 10.0, 0),
            cand("slow", "nova", 100.0, 0),
        ];
        let mut p = place(1, "nova");
        p.extra_specs
            .insert("volume_backend_name".into(), Some("fast".into()));
        assert_eq!(choose(&c, &p).unwrap().backend, "fast");
        p.extra_specs
            .insert("volume_backend_name".into(), Some("none".into()));
        assert!(choose(&c, &p)
            .unwrap_err()
            .0
            .contains("(volume_backend_name)"));
        let mut p = place(1, "nova");
        p.different_host = vec!["h@slow".into()];
        assert_eq!(choose(&c, &p).unwrap().backend, "fast");
        p.different_host = vec![];
        p.same_host = Some(vec!["h@slow".into()]);
        assert_eq!(choose(&c, &p).unwrap().backend, "slow");
    }

    #[test]
    fn over_subscription_and_reserve_bound_the_room() {
        let mut a = cand("a", "nova", 100.0, 150);
        a.stats.max_over_subscription_ratio = 2.0;
        a.stats.reserved_percentage = 10;
        // 100 * 0.9 * 2 = 180 provisionable, 150 taken: 30 left.
        assert_eq!(a.room_gib(), 30);
        a.stats.free_capacity_gb = 12.0;
        // Free space less the reserve, times the ratio: (12 - 10) * 2 = 4.
        assert_eq!(a.room_gib(), 4);
    }
}
