//! Who is asking: the service layer's view of a validated token.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    pub is_admin: bool,
}
