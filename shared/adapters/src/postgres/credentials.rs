//! What login reads and writes (migration 2026-11-25-000012): a user's
//! password hash and role, and refresh tokens (stored hashed, rotated, revoked
//! by family). Every query runs in the tenant's transaction, under RLS.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::RunQueryDsl;
use kitchen_domain::TenantId;
use uuid::Uuid;

use super::tenant_tx::{in_tenant_tx, TxError};
use super::PgPool;

/// A user as login sees it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct LoginUser {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub role: String,
    /// `None`: the user cannot log in with a password.
    #[diesel(sql_type = Nullable<Text>)]
    pub password_hash: Option<String>,
}

/// The user of `tenant` with `email` (compared case-insensitively).
pub async fn find_login_user(
    pool: &PgPool,
    tenant: TenantId,
    email: &str,
) -> Result<Option<LoginUser>, TxError> {
    let email = email.to_owned();
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            diesel::sql_query(
                "SELECT id, role, password_hash FROM users WHERE lower(email) = lower($1) LIMIT 1",
            )
            .bind::<Text, _>(email)
            .get_result::<LoginUser>(conn)
            .await
            .map(Some)
            .or_else(|e| match e {
                diesel::result::Error::NotFound => Ok(None),
                e => Err(TxError::from(e)),
            })
        }
        .scope_boxed()
    })
    .await
}

/// A refresh token to store (its hash only).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

async fn insert(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: TenantId,
    token: &NewRefreshToken,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "INSERT INTO refresh_tokens (tenant_id, id, family_id, user_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind::<SqlUuid, _>(tenant.as_uuid())
    .bind::<SqlUuid, _>(token.id)
    .bind::<SqlUuid, _>(token.family_id)
    .bind::<SqlUuid, _>(token.user_id)
    .bind::<Text, _>(&token.token_hash)
    .bind::<Timestamptz, _>(token.expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Stores the first token of a new family (at login).
pub async fn issue_refresh_token(
    pool: &PgPool,
    tenant: TenantId,
    token: NewRefreshToken,
) -> Result<(), TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move { insert(conn, tenant, &token).await.map_err(TxError::from) }.scope_boxed()
    })
    .await
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was current: it is now used and `next` (same family) replaces it.
    Rotated { user: LoginUser },
    /// It had been used already: the whole family is now revoked.
    ReuseDetected,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(QueryableByName)]
struct Presented {
    #[diesel(sql_type = SqlUuid)]
    family_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
}

async fn revoke_family(
    conn: &mut diesel_async::AsyncPgConnection,
    family: Uuid,
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind::<SqlUuid, _>(family)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Rotates the token whose hash is `presented`: in one transaction, with the
/// row locked, so two concurrent uses cannot both succeed. `next` gets the
/// family and user of the presented token.
pub async fn rotate_refresh_token(
    pool: &PgPool,
    tenant: TenantId,
    presented: String,
    mut next: NewRefreshToken,
) -> Result<Rotation, TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            let row = diesel::sql_query(
                "SELECT family_id, user_id, used_at, revoked_at, expires_at
                   FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            )
            .bind::<Text, _>(&presented)
            .get_result::<Presented>(conn)
            .await;
            let row = match row {
                Ok(row) => row,
                Err(diesel::result::Error::NotFound) => return Ok(Rotation::Invalid),
                Err(e) => return Err(e.into()),
            };
            if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
                return Ok(Rotation::Invalid);
            }
            if row.used_at.is_some() {
                revoke_family(conn, row.family_id).await?;
                return Ok(Rotation::ReuseDetected);
            }
            let user = diesel::sql_query("SELECT id, role, password_hash FROM users WHERE id = $1")
                .bind::<SqlUuid, _>(row.user_id)
                .get_result::<LoginUser>(conn)
                .await;
            let user = match user {
                Ok(user) => user,
                Err(diesel::result::Error::NotFound) => return Ok(Rotation::Invalid),
                Err(e) => return Err(e.into()),
            };
            diesel::sql_query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
                .bind::<Text, _>(&presented)
                .execute(conn)
                .await?;
            next.family_id = row.family_id;
            next.user_id = row.user_id;
            insert(conn, tenant, &next).await?;
            Ok(Rotation::Rotated { user })
        }
        .scope_boxed()
    })
    .await
}

/// Revokes the family of the token whose hash is `presented` (logout);
/// whether there was one.
pub async fn revoke_refresh_family(
    pool: &PgPool,
    tenant: TenantId,
    presented: String,
) -> Result<bool, TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            let row = diesel::sql_query(
                "SELECT family_id, user_id, used_at, revoked_at, expires_at
                   FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind::<Text, _>(&presented)
            .get_result::<Presented>(conn)
            .await;
            match row {
                Ok(row) => {
                    revoke_family(conn, row.family_id).await?;
                    Ok(true)
                }
                Err(diesel::result::Error::NotFound) => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
        .scope_boxed()
    })
    .await
}

/// A user to add (its password already hashed).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
}

/// Why a user could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddUserError {
    #[error("a user with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Tx(#[from] TxError),
}

impl From<diesel::result::Error> for AddUserError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info)
                if info.constraint_name() == Some("users_email_key") =>
            {
                AddUserError::EmailTaken
            }
            e => AddUserError::Tx(e.into()),
        }
    }
}

/// Adds a user to `tenant`.
pub async fn add_user(pool: &PgPool, tenant: TenantId, user: NewUser) -> Result<(), AddUserError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            diesel::sql_query(
                "INSERT INTO users (tenant_id, id, email, display_name, password_hash, role)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind::<SqlUuid, _>(tenant.as_uuid())
            .bind::<SqlUuid, _>(user.id)
            .bind::<Text, _>(&user.email)
            .bind::<Text, _>(&user.display_name)
            .bind::<Text, _>(&user.password_hash)
            .bind::<Text, _>(&user.role)
            .execute(conn)
            .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// Removes a user of `tenant` (its refresh tokens go with it); whether it existed.
pub async fn remove_user(pool: &PgPool, tenant: TenantId, user: Uuid) -> Result<bool, TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            let removed = diesel::sql_query("DELETE FROM users WHERE id = $1")
                .bind::<SqlUuid, _>(user)
                .execute(conn)
                .await?;
            Ok(removed == 1)
        }
        .scope_boxed()
    })
    .await
}

/// The user `id` of `tenant`, as login sees it.
pub async fn find_user(
    pool: &PgPool,
    tenant: TenantId,
    id: Uuid,
) -> Result<Option<LoginUser>, TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            match diesel::sql_query("SELECT id, role, password_hash FROM users WHERE id = $1")
                .bind::<SqlUuid, _>(id)
                .get_result::<LoginUser>(conn)
                .await
            {
                Ok(user) => Ok(Some(user)),
                Err(diesel::result::Error::NotFound) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .scope_boxed()
    })
    .await
}

/// Sets the user's password hash and revokes every refresh token it holds
/// (other sessions must log in again).
pub async fn set_password(
    pool: &PgPool,
    tenant: TenantId,
    user: Uuid,
    password_hash: String,
) -> Result<(), TxError> {
    in_tenant_tx(pool, tenant, |conn| {
        async move {
            diesel::sql_query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind::<SqlUuid, _>(user)
                .bind::<Text, _>(&password_hash)
                .execute(conn)
                .await?;
            diesel::sql_query(
                "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind::<SqlUuid, _>(user)
            .execute(conn)
            .await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}
