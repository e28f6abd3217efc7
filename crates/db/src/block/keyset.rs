//! The ordered, paged tail of every listing query: the requested sort keys with `id` as the
//! tiebreaker, the keyset condition that starts after a marker, `LIMIT` and `OFFSET`.
//!
//! When every key runs the same way the marker condition is one row-value comparison, so SQLite
//! walks the `(…, created_at, id)` indexes and a page costs the same whatever the table holds;
//! mixed directions fall back to an OR chain.

use basalt_domain::volume::SortDir;
use sqlx::{QueryBuilder, Sqlite};

/// A timestamp filter value (`2015-11-29T03:01:44.000000`, what views show) in microseconds.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(t.and_utc().timestamp_micros())
}

/// Pushes the marker condition (when there is a marker), `ORDER BY`, `LIMIT` and `OFFSET`.
/// `expr(key, alias)` is a key's ordering expression over a table alias; the query's rows are
/// `alias`, the marker's row is looked up in `table`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per listing; a struct would only rename them"
)]
pub(crate) fn push_page<K: Copy + PartialEq>(
    b: &mut QueryBuilder<Sqlite>,
    table: &str,
    alias: &str,
    sort: &[(K, SortDir)],
    id: K,
    expr: impl Fn(K, &str) -> String,
    marker: Option<&str>,
    limit: u32,
    offset: u64,
) {
    let mut keys = sort.to_vec();
    if !keys.iter().any(|(k, _)| *k == id) {
        let dir = keys.last().map_or(SortDir::Desc, |(_, d)| *d);
        keys.push((id, dir));
    }
    if let Some(marker) = marker {
        push_after_marker(b, table, alias, &keys, &expr, marker);
    }
    b.push(" ORDER BY ");
    for (i, (k, d)) in keys.iter().enumerate() {
        if i > 0 {
            b.push(", ");
        }
        b.push(format!("{} {}", expr(*k, alias), sql_dir(*d)));
    }
    b.push(" LIMIT ").push_bind(i64::from(limit));
    b.push(" OFFSET ")
        .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
}

fn sql_dir(d: SortDir) -> &'static str {
    match d {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    }
}

fn push_after_marker<K: Copy>(
    b: &mut QueryBuilder<Sqlite>,
    table: &str,
    alias: &str,
    keys: &[(K, SortDir)],
    expr: &impl Fn(K, &str) -> String,
    marker: &str,
) {
    let marker_value = |k: K| format!("(SELECT {} FROM {table} m WHERE m.id = ", expr(k, "m"));
    let uniform = keys.iter().all(|(_, d)| *d == keys[0].1);
    if uniform {
        let op = if keys[0].1 == SortDir::Asc { ">" } else { "<" };
        let ours: Vec<String> = keys.iter().map(|(k, _)| expr(*k, alias)).collect();
        let theirs: Vec<String> = keys.iter().map(|(k, _)| expr(*k, "m")).collect();
        b.push(format!(
            " AND ({}) {op} (SELECT {} FROM {table} m WHERE m.id = ",
            ours.join(", "),
            theirs.join(", ")
        ))
        .push_bind(marker.to_owned())
        .push(")");
        return;
    }
    // Mixed directions: (k1 after) OR (k1 equal AND k2 after) OR ...
    b.push(" AND (");
    for (i, (k, d)) in keys.iter().enumerate() {
        if i > 0 {
            b.push(" OR ");
        }
        b.push("(");
        for (prev, _) in &keys[..i] {
            b.push(format!("{} = {}", expr(*prev, alias), marker_value(*prev)))
                .push_bind(marker.to_owned())
                .push(") AND ");
        }
        let op = if *d == SortDir::Asc { ">" } else { "<" };
        b.push(format!("{} {op} {}", expr(*k, alias), marker_value(*k)))
            .push_bind(marker.to_owned())
            .push("))");
    }
    b.push(")");
}
