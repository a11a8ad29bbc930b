//! SQL for second factors: a person's TOTP secret with its replay guard, their recovery codes,
//! and the authentication methods a session carries.

use super::audit::{audited, AuditEvent};
use super::row::DbRow;
use super::Store;
use crate::{on_db, on_write};

#[derive(Debug, Clone)]
pub struct TotpRow {
    pub secret: Vec<u8>,
    pub confirmed: bool,
    pub last_step: i64,
}

impl Store {
    pub async fn totp_factor(&self, user_id: &str) -> sqlx::Result<Option<TotpRow>> {
        on_db!(&self.db, pool => {
            sqlx::query("SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = $1")
                .bind(user_id).fetch_optional(pool).await?
                .map(|r| Ok(TotpRow { secret: r.bytes("secret")?, confirmed: r.opt_int("confirmed_at")?.is_some(), last_step: r.int("last_step")? }))
                .transpose()
        })
    }

    /// A new secret being set up; replaces an earlier unconfirmed one, never a confirmed one.
    pub async fn put_pending_totp(&self, user_id: &str, secret: &[u8], now: i64) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) \
                ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0 \
                WHERE totp_factors.confirmed_at IS NULL")
                .bind(user_id).bind(secret).bind(now).execute(pool).await.map(|_| ())
        })
    }

    /// Confirms the factor at the step of its first right code, with new recovery codes (the
    /// old ones go). False when it was confirmed meanwhile.
    pub async fn confirm_totp(
        &self,
        user_id: &str,
        step: i64,
        now: i64,
        recovery: &[[u8; 32]],
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let done = sqlx::query("UPDATE totp_factors SET confirmed_at = $2, last_step = $3 WHERE user_id = $1 AND confirmed_at IS NULL")
                .bind(user_id).bind(now).bind(step).execute(&mut *tx).await?.rows_affected() == 1;
            if !done {
                return Ok(false);
            }
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            for digest in recovery {
                sqlx::query("INSERT INTO recovery_codes (digest, user_id) VALUES ($1, $2)")
                    .bind(&digest[..]).bind(user_id).execute(&mut *tx).await?;
            }
            done
        })
    }

    /// Accepts a code of `step` if no code of this or a later step was accepted before (RFC
    /// 6238 §5.2: a verifier must not accept the second attempt of the same code).
    pub async fn advance_totp_step(&self, user_id: &str, step: i64) -> sqlx::Result<bool> {
        on_write!(self, pool => {
            Ok(sqlx::query("UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2")
                .bind(user_id).bind(step).execute(pool).await?.rows_affected() == 1)
        })
    }

    pub async fn use_recovery_code(
        &self,
        user_id: &str,
        digest: &[u8],
        now: i64,
        event: &AuditEvent,
    ) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            sqlx::query("UPDATE recovery_codes SET used_at = $3 WHERE digest = $1 AND user_id = $2 AND used_at IS NULL")
                .bind(digest).bind(user_id).bind(now).execute(&mut *tx).await?.rows_affected() == 1
        })
    }

    /// Whether the person has a confirmed TOTP factor, and any passkey: one round trip.
    pub async fn second_factor_kinds(&self, user_id: &str) -> sqlx::Result<(bool, bool)> {
        const SQL: &str = "SELECT \
            (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS totp, \
            (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) AS passkeys";
        on_db!(&self.db, pool => {
            let r = sqlx::query(SQL).bind(user_id).fetch_one(pool).await?;
            Ok((r.int("totp")? > 0, r.int("passkeys")? > 0))
        })
    }

    /// Removes every second factor of the person (authenticator app, passkeys, recovery codes).
    pub async fn remove_second_factors(&self, user_id: &str, event: &AuditEvent) -> sqlx::Result<bool> {
        audited!(self, event, when |done: &bool| *done, tx => {
            let totp = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
            let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
            totp + passkeys > 0
        })
    }

    /// Records that the session's person used a second factor.
    pub async fn set_session_amr(&self, digest: &[u8], amr: &str) -> sqlx::Result<()> {
        on_write!(self, pool => {
            sqlx::query("UPDATE sessions SET amr = $2 WHERE digest = $1").bind(digest).bind(amr).execute(pool).await.map(|_| ())
        })
    }
}
