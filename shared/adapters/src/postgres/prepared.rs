//! Keeps a hot statement prepared on its connection.
//!
//! diesel refuses to cache the prepared statement of every `sql_query`, UPDATE,
//! upsert and multi-row INSERT, because such SQL *may* be built dynamically and
//! an unbounded number of them would fill the cache. diesel-async then prepares
//! the statement, executes it and closes it: two round trips where one would do,
//! on every call. The statements wrapped here have SQL fixed by their call site
//! (a multi-row insert varies only with its row count), so caching them by their
//! SQL text is bounded: each runs in one round trip after its first use on a
//! connection.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// A statement whose SQL text takes a bounded number of forms, kept prepared
/// (keyed by that text and its bind types) on each connection that runs it.
#[derive(Debug, Clone, Copy)]
pub struct Prepared<Q>(pub Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the cache is keyed by the SQL text, so each form of the
/// statement gets its own entry.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::Integer;

    #[test]
    fn a_wrapped_sql_query_is_cacheable_and_keeps_its_sql() {
        let raw = diesel::sql_query("SELECT $1 AS n").bind::<Integer, _>(1);
        assert!(!raw.is_safe_to_cache_prepared(&Pg).unwrap());
        let wrapped = Prepared(raw);
        assert!(wrapped.is_safe_to_cache_prepared(&Pg).unwrap());
        assert_eq!(
            diesel::debug_query::<Pg, _>(&wrapped).to_string(),
            "SELECT $1 AS n -- binds: [1]"
        );
        const { assert!(!<Prepared<()> as QueryId>::HAS_STATIC_QUERY_ID) };
    }
}
