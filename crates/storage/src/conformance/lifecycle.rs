//! Conformance: creating, finding and deleting volumes, idempotency and name checks.

use super::{assert_zeros, fresh_name, pattern, read, write};
use crate::{BlockBackend, StorageError, GIB};

/// A new volume exists, has exactly its size in bytes, reads as zeros and is counted.
pub async fn create_makes_a_zeroed_volume_of_exactly_the_size(backend: &dyn BlockBackend) {
    let name = fresh_name();
    let before = backend.stats().await.expect("stats");
    assert!(
        !backend.exists(&name).await.unwrap(),
        "exists before create"
    );

    backend.create(&name, 2).await.expect("create 2 GiB");

    assert!(backend.exists(&name).await.unwrap(), "exists after create");
    assert_eq!(backend.size_bytes(&name).await.unwrap(), 2 * GIB);
    let device = backend.open(&name).await.expect("open");
    assert_eq!(device.size(), 2 * GIB);
    assert_zeros(&read(&device, 0, 1 << 20).await, "start of a new volume");
    assert_zeros(
        &read(&device, 2 * GIB - 4096, 4096).await,
        "end of a new volume",
    );
    let after = backend.stats().await.expect("stats");
    assert_eq!(after.provisioned_bytes, before.provisioned_bytes + 2 * GIB);
    assert_eq!(after.volume_count, before.volume_count + 1);

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// A retried create of the same size succeeds and keeps the data; another size is refused.
pub async fn create_is_idempotent_for_the_same_size(backend: &dyn BlockBackend) {
    let name = fresh_name();
    backend.create(&name, 1).await.expect("first create");
    let device = backend.open(&name).await.expect("open");
    write(&device, 4096, pattern(1, 4096)).await;

    backend.create(&name, 1).await.expect("repeated create");
    assert_eq!(
        read(&device, 4096, 4096).await,
        pattern(1, 4096),
        "data kept"
    );
    assert_eq!(backend.size_bytes(&name).await.unwrap(), GIB);

    match backend.create(&name, 3).await {
        Err(StorageError::AlreadyExists { size_bytes, .. }) => assert_eq!(size_bytes, GIB),
        other => panic!("create with another size: expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        backend.size_bytes(&name).await.unwrap(),
        GIB,
        "size unchanged"
    );

    drop(device);
    backend.delete(&name).await.expect("delete");
}

/// No volume of 0 GiB, and a refused create leaves nothing behind.
pub async fn zero_size_is_refused(backend: &dyn BlockBackend) {
    let name = fresh_name();
    let result = backend.create(&name, 0).await;
    assert!(
        matches!(result, Err(StorageError::InvalidSize(_))),
        "create of 0 GiB: expected InvalidSize, got {result:?}"
    );
    assert!(!backend.exists(&name).await.unwrap());
}

/// Names that could reach outside the backend's namespace are refused by every method.
pub async fn unsafe_names_are_refused(backend: &dyn BlockBackend) {
    for name in ["", "..", "../escape", "a/b", ".hidden", "white space"] {
        let refused = |what: &str, r: Result<(), StorageError>| {
            assert!(
                matches!(r, Err(StorageError::InvalidName(_))),
                "{what}({name:?}): expected InvalidName, got {r:?}"
            );
        };
        refused("create", backend.create(name, 1).await);
        refused("delete", backend.delete(name).await);
        refused("extend", backend.extend(name, 2).await);
        refused("exists", backend.exists(name).await.map(drop));
        refused("size_bytes", backend.size_bytes(name).await.map(drop));
        refused("open", backend.open(name).await.map(drop));
    }
}

/// After delete the volume is gone everywhere; deleting again, or something never created,
/// succeeds.
pub async fn delete_removes_the_volume_and_is_idempotent(backend: &dyn BlockBackend) {
    let name = fresh_name();
    let before = backend.stats().await.expect("stats");
    backend.create(&name, 1).await.expect("create");

    backend.delete(&name).await.expect("delete");

    assert!(!backend.exists(&name).await.unwrap(), "exists after delete");
    assert!(matches!(
        backend.size_bytes(&name).await,
        Err(StorageError::NotFound(_))
    ));
    let after = backend.stats().await.expect("stats");
    assert_eq!(after.provisioned_bytes, before.provisioned_bytes);
    assert_eq!(after.volume_count, before.volume_count);
    backend.delete(&name).await.expect("second delete");
    backend
        .delete(&fresh_name())
        .await
        .expect("delete of a never-created volume");
    backend
        .create(&name, 1)
        .await
        .expect("create again under the same name");
    backend.delete(&name).await.expect("delete");
}

/// Reading or changing a volume that does not exist is NotFound, and creates nothing.
pub async fn missing_volumes_are_not_found(backend: &dyn BlockBackend) {
    let name = fresh_name();
    let not_found = |what: &str, r: Result<(), StorageError>| {
        assert!(
            matches!(&r, Err(StorageError::NotFound(n)) if *n == name),
            "{what} of a missing volume: expected NotFound({name}), got {r:?}"
        );
    };
    not_found("size_bytes", backend.size_bytes(&name).await.map(drop));
    not_found("open", backend.open(&name).await.map(drop));
    not_found("extend", backend.extend(&name, 2).await);
    assert!(
        !backend.exists(&name).await.unwrap(),
        "extend must not create"
    );
}
