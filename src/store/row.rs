//! Column access that reads the same on both backends, so each row is decoded by one function.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

pub trait DbRow {
    fn text(&self, col: &str) -> sqlx::Result<String>;
    fn opt_text(&self, col: &str) -> sqlx::Result<Option<String>>;
    fn int(&self, col: &str) -> sqlx::Result<i64>;
    fn opt_int(&self, col: &str) -> sqlx::Result<Option<i64>>;
    fn flag(&self, col: &str) -> sqlx::Result<bool>;
    fn bytes(&self, col: &str) -> sqlx::Result<Vec<u8>>;
    fn opt_bytes(&self, col: &str) -> sqlx::Result<Option<Vec<u8>>>;
}

macro_rules! impl_db_row {
    ($row:ty) => {
        impl DbRow for $row {
            fn text(&self, col: &str) -> sqlx::Result<String> {
                self.try_get(col)
            }
            fn opt_text(&self, col: &str) -> sqlx::Result<Option<String>> {
                self.try_get(col)
            }
            fn int(&self, col: &str) -> sqlx::Result<i64> {
                self.try_get(col)
            }
            fn opt_int(&self, col: &str) -> sqlx::Result<Option<i64>> {
                self.try_get(col)
            }
            fn flag(&self, col: &str) -> sqlx::Result<bool> {
                self.try_get(col)
            }
            fn bytes(&self, col: &str) -> sqlx::Result<Vec<u8>> {
                self.try_get(col)
            }
            fn opt_bytes(&self, col: &str) -> sqlx::Result<Option<Vec<u8>>> {
                self.try_get(col)
            }
        }
    };
}

impl_db_row!(SqliteRow);
impl_db_row!(PgRow);
