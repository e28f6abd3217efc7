//! The type service: volume types, their extra specs, project access and encryption specs,
//! with Cinder's policies (changes are admin-only; anyone lists and shows the types they may
//! use) and rules (a type in use keeps its specs; the default type stays).

use std::sync::Arc;

use chrono::Utc;

use super::{
    ControlLocation, ExtraSpecs, TypeEncryption, TypeQuery, VolumeType, DEFAULT_TYPE_NAME,
};
use crate::error::DomainError;
use crate::ports::{StoreError, TypeFields, TypeWrite, VolumeTypeStore};
use crate::Caller;

const MANAGE: &str = "volume_extension:types_manage";
const IS_TRUE: &str = "<is> True";

/// A type to create, its fields checked by the API's schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewType {
    pub name: String,
    pub description: Option<String>,
    pub extra_specs: ExtraSpecs,
    pub is_public: bool,
}

pub type TypeUpdate = TypeFields;

/// An encryption spec's fields; `None` leaves a field alone on update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionChange {
    pub provider: Option<Option<String>>,
    pub cipher: Option<Option<String>>,
    pub key_size: Option<Option<i64>>,
    pub control_location: Option<ControlLocation>,
}

pub struct TypeService {
    store: Arc<dyn VolumeTypeStore>,
}

fn admin(caller: &Caller, rule: &'static str) -> Result<(), DomainError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(DomainError::Forbidden(rule))
    }
}

fn encryption_missing(type_id: &str) -> DomainError {
    DomainError::NotFound(format!(
        "Volume type encryption for type {type_id} does not exist."
    ))
}

/// Cinder refuses a type that would be both cacheable and multiattach.
fn check_cacheable(current: &ExtraSpecs, new: &ExtraSpecs) -> Result<(), DomainError> {
    let value = |k: &str| {
        new.get(k)
            .or_else(|| current.get(k))
            .and_then(|v| v.as_deref())
    };
    if value("multiattach") == Some(IS_TRUE) && value("cacheable") == Some(IS_TRUE) {
        return Err(DomainError::BadRequest(
            "cacheable cannot be set with multiattach.".into(),
        ));
    }
    Ok(())
}

impl TypeService {
    pub fn new(store: Arc<dyn VolumeTypeStore>) -> Self {
        TypeService { store }
    }

    /// The type if the caller may use it: a private type exists only for admins and the
    /// projects it was granted to. `default` names the default type.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<VolumeType, DomainError> {
        let found = if id == "default" {
            self.store.find_type_by_name(DEFAULT_TYPE_NAME).await?
        } else {
            self.store.get_type(id).await?
        };
        let t = found.ok_or_else(|| DomainError::type_not_found(id))?;
        if t.is_public || caller.is_admin || self.granted(&t.id, &caller.project_id).await? {
            Ok(t)
        } else {
            Err(DomainError::type_not_found(id))
        }
    }

    async fn granted(&self, type_id: &str, project_id: &str) -> Result<bool, DomainError> {
        Ok(self
            .store
            .type_projects(type_id)
            .await?
            .iter()
            .any(|p| p == project_id))
    }

    /// A type by id or else by name, as volume create looks it up; invisible types are
    /// not found.
    pub async fn find(&self, caller: &Caller, name_or_id: &str) -> Result<VolumeType, DomainError> {
        let t = match self.store.get_type(name_or_id).await? {
            Some(t) => Some(t),
            None => self.store.find_type_by_name(name_or_id).await?,
        };
        let not_found = || {
            DomainError::NotFound(format!(
                "Volume type with name {name_or_id} could not be found."
            ))
        };
        let t = t.ok_or_else(not_found)?;
        if t.is_public || caller.is_admin || self.granted(&t.id, &caller.project_id).await? {
            Ok(t)
        } else {
            Err(not_found())
        }
    }

    pub async fn list(&self, q: &TypeQuery) -> Result<Vec<VolumeType>, DomainError> {
        let granted = self.store.types_granted_to(&q.project_id).await?;
        q.apply(self.store.list_types().await?, &granted)
    }

    pub async fn create(&self, caller: &Caller, new: NewType) -> Result<VolumeType, DomainError> {
        admin(caller, MANAGE)?;
        check_cacheable(&ExtraSpecs::new(), &new.extra_specs)?;
        let mut t = VolumeType::new(&new.name, new.description);
        t.is_public = new.is_public;
        t.extra_specs = new.extra_specs;
        match self.store.create_type(&t).await {
            Ok(()) => Ok(t),
            Err(StoreError::Conflict(_)) => Err(exists(&new.name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        u: TypeUpdate,
    ) -> Result<VolumeType, DomainError> {
        admin(caller, MANAGE)?;
        if u.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(DomainError::BadRequest(
                "Volume type name can not be empty.".into(),
            ));
        }
        if u == TypeUpdate::default() {
            return Err(DomainError::BadRequest(
                "Specify volume type name, description, is_public or a combination thereof.".into(),
            ));
        }
        let current = self.get(caller, id).await?;
        // Basalt finds its default type by name: renaming it would make another.
        if current.name == DEFAULT_TYPE_NAME
            && u.name.as_deref().is_some_and(|n| n != DEFAULT_TYPE_NAME)
        {
            return Err(DomainError::BadRequest(format!(
                "The volume type {id} is the default volume type and cannot be renamed."
            )));
        }
        match self.store.update_type(&current.id, &u).await? {
            TypeWrite::Done => self.get(caller, &current.id).await,
            TypeWrite::NameTaken => Err(exists(u.name.as_deref().unwrap_or_default())),
            _ => Err(DomainError::type_not_found(id)),
        }
    }

    pub async fn delete(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        admin(caller, MANAGE)?;
        let t = self.get(caller, id).await?;
        if t.name == DEFAULT_TYPE_NAME {
            return Err(DomainError::BadRequest(format!(
                "The volume type {} is a default volume type and cannot be deleted.",
                t.id
            )));
        }
        match self.store.delete_type(&t.id).await? {
            TypeWrite::Done => Ok(()),
            TypeWrite::InUse => Err(DomainError::BadRequest(
                "Target volume type is still in use.".into(),
            )),
            _ => Err(DomainError::type_not_found(id)),
        }
    }

    async fn admin_type(
        &self,
        caller: &Caller,
        id: &str,
        rule: &'static str,
    ) -> Result<VolumeType, DomainError> {
        admin(caller, rule)?;
        self.store
            .get_type(id)
            .await?
            .ok_or_else(|| DomainError::type_not_found(id))
    }

    pub async fn extra_specs(&self, caller: &Caller, id: &str) -> Result<ExtraSpecs, DomainError> {
        let rule = "volume_extension:types_extra_specs:index";
        Ok(self.admin_type(caller, id, rule).await?.extra_specs)
    }

    pub async fn extra_spec(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> Result<Option<String>, DomainError> {
        let rule = "volume_extension:types_extra_specs:show";
        let t = self.admin_type(caller, id, rule).await?;
        t.extra_specs.get(key).cloned().ok_or_else(|| {
            DomainError::NotFound(format!(
                "Volume Type {id} has no extra specs with key {key}."
            ))
        })
    }

    /// Merges `specs` into the type's; refused while a volume uses the type.
    pub async fn set_extra_specs(
        &self,
        caller: &Caller,
        id: &str,
        specs: &ExtraSpecs,
        rule: &'static str,
    ) -> Result<(), DomainError> {
        let t = self.admin_type(caller, id, rule).await?;
        check_cacheable(&t.extra_specs, specs)?;
        in_use_or(self.store.set_extra_specs(id, specs).await?, id, "")
    }

    pub async fn delete_extra_spec(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> Result<(), DomainError> {
        let rule = "volume_extension:types_extra_specs:delete";
        self.admin_type(caller, id, rule).await?;
        in_use_or(self.store.delete_extra_spec(id, key).await?, id, key)
    }

    /// Projects granted a private type; a public type has no access list.
    pub async fn access(&self, caller: &Caller, id: &str) -> Result<Vec<String>, DomainError> {
        let t = self.get(caller, id).await?;
        if t.is_public {
            return Err(DomainError::NotFound(
                "Access list not available for public volume types.".into(),
            ));
        }
        Ok(self.store.type_projects(&t.id).await?)
    }

    pub async fn add_access(
        &self,
        caller: &Caller,
        id: &str,
        project: &str,
    ) -> Result<(), DomainError> {
        let rule = "volume_extension:volume_type_access:addProjectAccess";
        self.check_private(caller, id, rule).await?;
        match self.store.add_type_project(id, project).await? {
            TypeWrite::Done => Ok(()),
            TypeWrite::Exists => Err(DomainError::Conflict(format!(
                "Volume type access for {id} / {project} combination already exists."
            ))),
            _ => Err(DomainError::type_not_found(id)),
        }
    }

    pub async fn remove_access(
        &self,
        caller: &Caller,
        id: &str,
        project: &str,
    ) -> Result<(), DomainError> {
        let rule = "volume_extension:volume_type_access:removeProjectAccess";
        self.check_private(caller, id, rule).await?;
        match self.store.remove_type_project(id, project).await? {
            TypeWrite::Done => Ok(()),
            TypeWrite::Missing => Err(DomainError::NotFound(format!(
                "Volume type access not found for {id} / {project} combination."
            ))),
            _ => Err(DomainError::type_not_found(id)),
        }
    }

    async fn check_private(
        &self,
        caller: &Caller,
        id: &str,
        rule: &'static str,
    ) -> Result<(), DomainError> {
        if self.admin_type(caller, id, rule).await?.is_public {
            return Err(DomainError::BadRequest(
                "Invalid volume type: Type access modification is not applicable to public \
                 volume type."
                    .into(),
            ));
        }
        Ok(())
    }

    pub async fn encryption(
        &self,
        caller: &Caller,
        type_id: &str,
    ) -> Result<Option<TypeEncryption>, DomainError> {
        let rule = "volume_extension:volume_type_encryption:get";
        self.admin_type(caller, type_id, rule).await?;
        Ok(self.store.get_encryption(type_id).await?)
    }

    /// Creates the type's encryption spec; `provider` and `control_location` are required.
    pub async fn create_encryption(
        &self,
        caller: &Caller,
        type_id: &str,
        c: EncryptionChange,
    ) -> Result<TypeEncryption, DomainError> {
        let rule = "volume_extension:volume_type_encryption:create";
        self.admin_type(caller, type_id, rule).await?;
        let e = TypeEncryption {
            volume_type_id: type_id.to_owned(),
            encryption_id: uuid::Uuid::new_v4().to_string(),
            provider: c.provider.flatten(),
            cipher: c.cipher.flatten(),
            key_size: c.key_size.flatten(),
            control_location: c.control_location.unwrap_or(ControlLocation::FrontEnd),
            created_at: Utc::now(),
            updated_at: None,
        };
        match self.store.put_encryption(&e, true).await? {
            TypeWrite::Done => Ok(e),
            TypeWrite::InUse => Err(DomainError::BadRequest(
                "Cannot create encryption specs. Volume type in use.".into(),
            )),
            TypeWrite::Exists => Err(DomainError::BadRequest(format!(
                "Volume type encryption for type {type_id} already exists."
            ))),
            _ => Err(DomainError::type_not_found(type_id)),
        }
    }

    pub async fn update_encryption(
        &self,
        caller: &Caller,
        type_id: &str,
        c: EncryptionChange,
    ) -> Result<TypeEncryption, DomainError> {
        let rule = "volume_extension:volume_type_encryption:update";
        self.admin_type(caller, type_id, rule).await?;
        let mut e = self
            .store
            .get_encryption(type_id)
            .await?
            .ok_or_else(|| encryption_missing(type_id))?;
        if let Some(p) = c.provider {
            e.provider = p;
        }
        if let Some(v) = c.cipher {
            e.cipher = v;
        }
        if let Some(k) = c.key_size {
            e.key_size = k;
        }
        if let Some(l) = c.control_location {
            e.control_location = l;
        }
        e.updated_at = Some(Utc::now());
        match self.store.put_encryption(&e, false).await? {
            TypeWrite::Done => Ok(e),
            TypeWrite::InUse => Err(DomainError::BadRequest(
                "Cannot update encryption specs. Volume type in use.".into(),
            )),
            TypeWrite::Missing => Err(encryption_missing(type_id)),
            _ => Err(DomainError::type_not_found(type_id)),
        }
    }

    pub async fn delete_encryption(
        &self,
        caller: &Caller,
        type_id: &str,
    ) -> Result<(), DomainError> {
        let rule = "volume_extension:volume_type_encryption:delete";
        self.admin_type(caller, type_id, rule).await?;
        match self.store.delete_encryption(type_id).await? {
            TypeWrite::Done => Ok(()),
            TypeWrite::InUse => Err(DomainError::BadRequest(
                "Cannot delete encryption specs. Volume type in use.".into(),
            )),
            TypeWrite::Missing => Err(encryption_missing(type_id)),
            _ => Err(DomainError::type_not_found(type_id)),
        }
    }
}

fn exists(name: &str) -> DomainError {
    DomainError::Conflict(format!("Volume Type {name} already exists."))
}

/// The answer to an extra-spec change (`key`: the spec removed, if any).
fn in_use_or(w: TypeWrite, id: &str, key: &str) -> Result<(), DomainError> {
    match w {
        TypeWrite::Done => Ok(()),
        TypeWrite::InUse => Err(DomainError::BadRequest(
            "Volume Type is currently in use.".into(),
        )),
        TypeWrite::Missing => Err(DomainError::NotFound(format!(
            "Volume Type {id} has no extra specs with key {key}."
        ))),
        _ => Err(DomainError::type_not_found(id)),
    }
}
