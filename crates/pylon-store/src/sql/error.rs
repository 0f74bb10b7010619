//! The store's error type: typed outcomes callers act on (not found, stale version,
//! duplicate) kept apart from backend failures.

/// Result alias used across the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} {id:?} not found")]
    NotFound { kind: &'static str, id: String },
    /// The caller's expected version is stale; `current` is the stored one (HTTP 412/409).
    #[error("version conflict: the current version is {current}")]
    Conflict { current: i64 },
    /// An object with the same unique key already exists.
    #[error("{kind} {id:?} already exists")]
    Duplicate { kind: &'static str, id: String },
    /// A referenced object (tenant, user, team) does not exist.
    #[error("a referenced object does not exist: {0}")]
    MissingReference(String),
    /// A subscription cannot move to the wanted state from the one it is in (HTTP 409).
    #[error("subscription {id:?} is {current}; it cannot become {wanted}")]
    InvalidTransition {
        id: String,
        current: String,
        wanted: String,
    },
    /// The input breaks a rule the store enforces (identifier syntax, empty name, ...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The store URL or options cannot be used.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// Stored data cannot be read back into the model (e.g. an unknown role).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Creating the data directory failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other database error.
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        StoreError::NotFound {
            kind,
            id: id.into(),
        }
    }
}

/// Maps unique and foreign-key violations of an insert or update to typed errors.
pub(crate) fn map_write_err(err: sqlx::Error, kind: &'static str, id: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Duplicate {
                kind,
                id: id.to_owned(),
            };
        }
        if db.is_foreign_key_violation() {
            return StoreError::MissingReference(format!(
                "{kind} {id:?} refers to a missing object"
            ));
        }
    }
    StoreError::Backend(err)
}
