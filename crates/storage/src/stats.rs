//! Backend capacity figures and the one capacity rule every backend applies, so that the
//! scheduler (which reads the stats) and the backend (which enforces them) never disagree.

use crate::{StorageError, GIB};

/// A backend's capacity, in exact bytes; the `*_capacity_gb` helpers give Cinder's float GiB
/// figures (the keys Cinder's scheduler uses) for views and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendStats {
    /// Size of the underlying storage (the filesystem, the pool).
    pub total_bytes: u64,
    /// Space still free on it, as available to this service (it may hold other data too).
    pub free_bytes: u64,
    /// Space the volumes really occupy: only written blocks count on a thin backend.
    pub allocated_bytes: u64,
    /// Sum of the volumes' sizes: what they would occupy if fully written.
    pub provisioned_bytes: u64,
    /// How many volumes the backend holds.
    pub volume_count: u64,
    /// How far provisioned may exceed usable capacity (1.0 = no over-subscription).
    pub max_over_subscription_ratio: f64,
    /// Share of the total kept back from provisioning, 0 to 100.
    pub reserved_percentage: u8,
}

impl BackendStats {
    pub fn total_capacity_gb(&self) -> f64 {
        bytes_to_gib(self.total_bytes)
    }

    pub fn free_capacity_gb(&self) -> f64 {
        bytes_to_gib(self.free_bytes)
    }

    pub fn allocated_capacity_gb(&self) -> f64 {
        bytes_to_gib(self.allocated_bytes)
    }

    pub fn provisioned_capacity_gb(&self) -> f64 {
        bytes_to_gib(self.provisioned_bytes)
    }

    /// The most bytes a new volume, or the growth of an extended one, may take now.
    ///
    /// Two limits, as in Cinder's capacity filter for thin provisioning:
    /// - provisioned + requested <= total * (1 - reserved) * ratio, so the promised sizes
    ///   stay within the over-subscription the operator allowed;
    /// - requested <= (free - total * reserved) * ratio, so a nearly full disk stops taking
    ///   new volumes even when little has been provisioned (other data may fill it).
    pub fn provisionable_bytes(&self) -> u64 {
        let ratio = self.max_over_subscription_ratio;
        let reserved = f64::from(self.reserved_percentage.min(100)) / 100.0;
        let total = self.total_bytes as f64;
        let by_provisioned = total * (1.0 - reserved) * ratio - self.provisioned_bytes as f64;
        let by_free = (self.free_bytes as f64 - (total * reserved).floor()) * ratio;
        // `as` saturates: negative becomes 0, beyond u64::MAX becomes u64::MAX.
        by_provisioned.min(by_free).floor() as u64
    }

    /// Refuses with [`StorageError::InsufficientCapacity`] when `requested_gib` more GiB do not
    /// fit under [`provisionable_bytes`](Self::provisionable_bytes).
    pub fn check_capacity(&self, requested_gib: u64) -> Result<(), StorageError> {
        let available = self.provisionable_bytes();
        if requested_gib.saturating_mul(GIB) > available {
            return Err(StorageError::InsufficientCapacity {
                requested_gib,
                available_gib: available / GIB,
            });
        }
        Ok(())
    }
}

/// Bytes as float GiB, the unit of Cinder's capacity stats.
pub fn bytes_to_gib(bytes: u64) -> f64 {
    bytes as f64 / GIB as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(total_gib: u64, free_gib: u64, provisioned_gib: u64) -> BackendStats {
        BackendStats {
            total_bytes: total_gib * GIB,
            free_bytes: free_gib * GIB,
            allocated_bytes: 0,
            provisioned_bytes: provisioned_gib * GIB,
            volume_count: 0,
            max_over_subscription_ratio: 1.0,
            reserved_percentage: 0,
        }
    }

    #[test]
    fn without_over_subscription_provisioned_sizes_are_bounded_by_total() {
        let s = stats(100, 100, 60);
        assert_eq!(s.provisionable_bytes(), 40 * GIB);
        assert!(s.check_capacity(40).is_ok());
        assert!(matches!(
            s.check_capacity(41),
            Err(StorageError::InsufficientCapacity {
                requested_gib: 41,
                available_gib: 40
            })
        ));
    }

    #[test]
    fn over_subscription_multiplies_the_usable_total() {
        let s = BackendStats {
            max_over_subscription_ratio: 20.0,
            ..stats(100, 100, 0)
        };
        assert_eq!(s.provisionable_bytes(), 2000 * GIB);
    }

    #[test]
    fn reserved_percentage_is_kept_back() {
        let s = BackendStats {
            reserved_percentage: 10,
            ..stats(100, 100, 0)
        };
        assert_eq!(s.provisionable_bytes(), 90 * GIB);
        let all_reserved = BackendStats {
            reserved_percentage: 100,
            ..stats(100, 100, 0)
        };
        assert_eq!(all_reserved.provisionable_bytes(), 0);
    }

    #[test]
    fn a_nearly_full_disk_limits_even_a_lightly_provisioned_backend() {
        let s = BackendStats {
            max_over_subscription_ratio: 2.0,
            ..stats(100, 5, 0)
        };
        assert_eq!(s.provisionable_bytes(), 10 * GIB);
    }

    #[test]
    fn over_provisioned_backends_have_nothing_left_rather_than_wrapping() {
        assert_eq!(stats(100, 100, 150).provisionable_bytes(), 0);
        assert!(stats(100, 100, 0).check_capacity(u64::MAX).is_err());
    }

    #[test]
    fn gib_helpers_report_cinder_units() {
        let s = stats(3, 1, 2);
        assert_eq!(s.total_capacity_gb(), 3.0);
        assert_eq!(s.free_capacity_gb(), 1.0);
        assert_eq!(s.provisioned_capacity_gb(), 2.0);
        assert_eq!(bytes_to_gib(GIB / 2), 0.5);
    }
}
