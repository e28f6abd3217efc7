//! The QoS service: every QoS-spec operation of the API (all admin-only, as in Cinder) and
//! the specs a volume's exporter and compute host must apply.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;

use super::{effective_specs, QosConsumer, QosSpecs};
use crate::error::DomainError;
use crate::ports::{QosStore, QosWrite, StoreError, VolumeTypeStore};
use crate::volume::query::{parse_page, parse_sort_with, CONTROL};
use crate::volume::SortDir;
use crate::volume_type::VolumeType;
use crate::Caller;

pub struct QosService {
    store: Arc<dyn QosStore>,
    types: Arc<dyn VolumeTypeStore>,
}

fn admin(caller: &Caller, rule: &'static str) -> Result<(), DomainError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(rule))
    }
}

fn not_found(id: &str) -> DomainError {
    DomainError::NotFound(format!("No such QoS spec {id}."))
}

/// Cinder's message for a consumer outside its enum.
fn parse_consumer(s: &str) -> Result<QosConsumer, DomainError> {
    QosConsumer::parse(s).ok_or_else(|| {
        let names: Vec<&str> = QosConsumer::ALL.iter().map(|c| c.as_str()).collect();
        DomainError::BadRequest(format!(
            "Invalid qos specs: Valid consumer of QoS specs are: {}",
            names.join(", ")
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    Name,
    Consumer,
    CreatedAt,
}

fn sort_key(s: &str) -> Option<SortKey> {
    Some(match s {
        "id" => SortKey::Id,
        "name" => SortKey::Name,
        "consumer" => SortKey::Consumer,
        "created_at" => SortKey::CreatedAt,
        _ => return None,
    })
}

impl QosService {
    pub fn new(store: Arc<dyn QosStore>, types: Arc<dyn VolumeTypeStore>) -> Self {
        QosService { store, types }
    }

    async fn existing(&self, id: &str) -> Result<QosSpecs, DomainError> {
        self.store.get_qos(id).await?.ok_or_else(|| not_found(id))
    }

    /// A page of specs, filtered on `id`, `name` and `consumer` (other filters are dropped).
    pub async fn list(
        &self,
        caller: &Caller,
        params: &[(String, String)],
        max_page: u32,
    ) -> Result<Vec<QosSpecs>, DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:get_all")?;
        let (limit, offset) = parse_page(params, max_page)?;
        let sort = parse_sort_with(params, sort_key, SortKey::CreatedAt)?;
        let mut all = self.store.list_qos().await?;
        for (k, v) in params
            .iter()
            .filter(|(k, _)| !CONTROL.contains(&k.as_str()))
        {
            match k.as_str() {
                "id" => all.retain(|q| &q.id == v),
                "name" => all.retain(|q| &q.name == v),
                "consumer" => all.retain(|q| q.consumer.as_str() == v),
                _ => {}
            }
        }
        all.sort_by(|a, b| {
            sort.iter()
                .map(|(k, dir)| {
                    let o = match k {
                        SortKey::Id => a.id.cmp(&b.id),
                        SortKey::Name => a.name.cmp(&b.name),
                        SortKey::Consumer => a.consumer.as_str().cmp(b.consumer.as_str()),
                        SortKey::CreatedAt => a.created_at.cmp(&b.created_at),
                    };
                    if *dir == SortDir::Desc {
                        o.reverse()
                    } else {
                        o
                    }
                })
                .chain(std::iter::once(b.id.cmp(&a.id)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let start = match params.iter().find(|(k, _)| k == "marker") {
            None => 0,
            Some((_, m)) => {
                all.iter()
                    .position(|q| &q.id == m)
                    .ok_or_else(|| not_found(m))?
                    + 1
            }
        };
        Ok(all
            .into_iter()
            .skip(start)
            .skip(offset as usize)
            .take(limit as usize)
            .collect())
    }

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<QosSpecs, DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:get")?;
        self.existing(id).await
    }

    /// `consumer` defaults to `back-end`; every other key is a spec.
    pub async fn create(
        &self,
        caller: &Caller,
        name: &str,
        consumer: Option<&str>,
        specs: BTreeMap<String, String>,
    ) -> Result<QosSpecs, DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:create")?;
        let consumer = consumer.map(parse_consumer).transpose()?;
        let q = QosSpecs {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            consumer: consumer.unwrap_or(QosConsumer::BackEnd),
            specs,
            created_at: Utc::now(),
            updated_at: None,
        };
        match self.store.create_qos(&q).await {
            Ok(()) => Ok(q),
            Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(format!(
                "QoS Specs {name} already exists."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Merges `specs`, and changes the consumer when one is given.
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        consumer: Option<&str>,
        specs: &BTreeMap<String, String>,
    ) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:update")?;
        let consumer = consumer.map(parse_consumer).transpose()?;
        self.done(id, self.store.update_qos(id, consumer, specs).await?)
    }

    pub async fn delete(&self, caller: &Caller, id: &str, force: bool) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:delete")?;
        self.done(id, self.store.delete_qos(id, force).await?)
    }

    /// Removes the keys, all or none: a missing key is a 404 and changes nothing.
    pub async fn delete_keys(
        &self,
        caller: &Caller,
        id: &str,
        keys: &[String],
    ) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:delete")?;
        self.done(id, self.store.delete_qos_keys(id, keys).await?)
    }

    pub async fn associations(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<VolumeType>, DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:get_all")?;
        self.existing(id).await?;
        Ok(self.store.qos_types(id).await?)
    }

    pub async fn associate(
        &self,
        caller: &Caller,
        id: &str,
        type_id: Option<&str>,
    ) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:update")?;
        let type_id = type_id_param(type_id)?;
        let w = self.store.associate_qos(id, type_id).await?;
        self.done_for(id, type_id, w)
    }

    pub async fn disassociate(
        &self,
        caller: &Caller,
        id: &str,
        type_id: Option<&str>,
    ) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:update")?;
        let type_id = type_id_param(type_id)?;
        let w = self.store.disassociate_qos(id, type_id).await?;
        self.done_for(id, type_id, w)
    }

    pub async fn disassociate_all(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        admin(caller, "volume_extension:qos_specs_manage:update")?;
        self.done(id, self.store.disassociate_qos_all(id).await?)
    }

    fn done(&self, id: &str, w: QosWrite) -> Result<(), DomainError> {
        self.done_for(id, "", w)
    }

    fn done_for(&self, id: &str, type_id: &str, w: QosWrite) -> Result<(), DomainError> {
        match w {
            QosWrite::Done => Ok(()),
            QosWrite::NoSuchSpecs => Err(not_found(id)),
            QosWrite::NoSuchType => Err(DomainError::type_not_found(type_id)),
            QosWrite::TypeTaken(other) => Err(DomainError::BadRequest(format!(
                "Invalid volume type: Type is already associated with another qos specs: {other}"
            ))),
            QosWrite::InUse => Err(DomainError::BadRequest("Qos specs still in use.".into())),
            QosWrite::NoSuchKey(k) => Err(DomainError::NotFound(format!(
                "QoS spec {id} has no spec with key {k}."
            ))),
        }
    }

    /// The QoS spec of a volume type, if it has one.
    async fn of_type(&self, type_id: &str) -> Result<Option<QosSpecs>, DomainError> {
        let Some(t) = self.types.get_type(type_id).await? else {
            return Ok(None);
        };
        match t.qos_specs_id {
            Some(q) => Ok(self.store.get_qos(&q).await?),
            None => Ok(None),
        }
    }

    /// What the compute host must enforce on a volume of this type and size (`front-end` or
    /// `both` consumers), `_per_gb` limits resolved; `None` without such a spec.
    pub async fn front_end_specs(
        &self,
        type_id: &str,
        size_gib: i64,
    ) -> Result<Option<BTreeMap<String, String>>, DomainError> {
        Ok(self
            .of_type(type_id)
            .await?
            .filter(|q| q.consumer.front_end())
            .map(|q| effective_specs(&q.specs, size_gib)))
    }

    /// The limits Basalt's exporter enforces on a volume of this type and size.
    pub async fn back_end_limits(
        &self,
        type_id: &str,
        size_gib: i64,
    ) -> Result<super::IoLimits, DomainError> {
        Ok(self
            .back_end_specs(type_id, size_gib)
            .await?
            .map(|s| super::IoLimits::from_specs(&s))
            .unwrap_or_default())
    }

    /// What Basalt's exporter must enforce (`back-end` or `both` consumers).
    pub async fn back_end_specs(
        &self,
        type_id: &str,
        size_gib: i64,
    ) -> Result<Option<BTreeMap<String, String>>, DomainError> {
        Ok(self
            .of_type(type_id)
            .await?
            .filter(|q| q.consumer.back_end())
            .map(|q| effective_specs(&q.specs, size_gib)))
    }
}

fn type_id_param(type_id: Option<&str>) -> Result<&str, DomainError> {
    type_id
        .filter(|t| !t.is_empty())
        .ok_or_else(|| DomainError::BadRequest("Volume Type id must not be None.".into()))
}
