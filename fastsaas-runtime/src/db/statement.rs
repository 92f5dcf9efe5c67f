//! Queries built for the pool, with one difference from SeaORM's own
//! builder: on SQLite a `LIMIT` is written as a number, not bound.
//!
//! SQLite plans a `LIMIT` whose value it can see, and when that value is a
//! bound parameter it marks the prepared statement as depending on it:
//! binding the parameter again, as every run of a cached statement does,
//! expires the statement, and the next step parses and plans it anew
//! (`sqlite3Reprepare`). A list ran two such statements (its page and the
//! caller's entries) and spent 15 % of its instructions parsing them. A
//! literal limit keeps the cached plan; the page sizes a client may ask for
//! are bounded, so the statement cache holds a few texts more, not one per
//! request. `OFFSET` stays bound: SQLite does not plan on it.

use std::fmt::{self, Write};

use sea_orm::sea_query::{QueryBuilder, SelectStatement, SqlWriter, SqliteQueryBuilder, Value};
use sea_orm::{DbBackend, Statement};

/// `query` as a statement for `backend` (see the module's docs).
pub(crate) fn statement(backend: DbBackend, query: &SelectStatement) -> Statement {
    if backend != DbBackend::Sqlite {
        return backend.build(query);
    }
    let mut writer = LiteralLimits::default();
    query.build_collect_any_into(&SqliteQueryBuilder, &mut writer);
    Statement::from_sql_and_values(backend, writer.sql, writer.values)
}

/// SQL for SQLite (`?` placeholders, in order), writing the value of each
/// `LIMIT` into the text.
#[derive(Default)]
struct LiteralLimits {
    sql: String,
    values: Vec<Value>,
}

impl Write for LiteralLimits {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.sql.write_str(text)
    }
}

impl fmt::Display for LiteralLimits {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.sql)
    }
}

impl SqlWriter for LiteralLimits {
    fn push_param<T: QueryBuilder>(&mut self, value: Value, _: &T) {
        // sea-query writes " LIMIT " and then the limit's value, which a
        // `SelectStatement` holds as a `u64`.
        match value {
            Value::BigUnsigned(Some(limit)) if self.sql.ends_with(" LIMIT ") => {
                self.sql.push_str(&limit.to_string());
            }
            value => {
                self.sql.push('?');
                self.values.push(value);
            }
        }
    }

    fn as_writer(&mut self) -> &mut dyn Write {
        self
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};

    use super::*;

    fn page(owner: &str, limit: u64, offset: u64) -> SelectStatement {
        Query::select()
            .column(Asterisk)
            .from(Alias::new("notes"))
            .and_where(Expr::col(Alias::new("owner_id")).eq(owner))
            .limit(limit)
            .offset(offset)
            .to_owned()
    }

    #[test]
    fn sqlite_limits_are_written_and_every_other_value_stays_bound() {
        let merged = page("a", 21, 40).from_subquery(page("b", 61, 0), "part").to_owned();
        let built = statement(DbBackend::Sqlite, &merged);
        assert_eq!(
            built.sql,
            r#"SELECT * FROM "notes", (SELECT * FROM "notes" WHERE "owner_id" = ? LIMIT 61 OFFSET ?) AS "part" WHERE "owner_id" = ? LIMIT 21 OFFSET ?"#
        );
        let values = built.values.map(|values| values.0).unwrap_or_default();
        assert_eq!(values, [Value::from("b"), Value::from(0u64), Value::from("a"), Value::from(40u64)]);
    }

    #[test]
    fn a_value_that_reads_like_a_limit_is_still_bound() {
        let select = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("notes"))
            .and_where(Expr::col(Alias::new("title")).eq(" LIMIT "))
            .and_where(Expr::col(Alias::new("views")).eq(7u64))
            .to_owned();
        let built = statement(DbBackend::Sqlite, &select);
        assert_eq!(built.sql, r#"SELECT "id" FROM "notes" WHERE "title" = ? AND "views" = ?"#);
        assert_eq!(built.values.map(|values| values.0.len()), Some(2));
    }

    #[test]
    fn postgres_is_built_as_sea_orm_builds_it() {
        let built = statement(DbBackend::Postgres, &page("a", 21, 40));
        assert_eq!(built.sql, r#"SELECT * FROM "notes" WHERE "owner_id" = $1 LIMIT $2 OFFSET $3"#);
    }
}
