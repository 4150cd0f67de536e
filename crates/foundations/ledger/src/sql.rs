//! Small helpers for SQL written once for both engines: bound lists and multi-row VALUES.

use paycore_store::Engine;

/// Bound parameters per statement: below SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_PARAMS: usize = 30_000;

/// `$start, $start+1, …` (count of them) on PostgreSQL; anonymous `?` on SQLite, whose
/// `sqlite3_bind_parameter_name` walks a list per call (the driver asks for every parameter,
/// which made a 30,000-parameter statement quadratic). Parameters must be bound in order.
pub fn list(engine: Engine, start: usize, count: usize) -> String {
    let mut s = String::with_capacity(count * 6);
    for i in 0..count {
        if i > 0 {
            s.push(',');
        }
        match engine {
            Engine::Postgres => {
                s.push('$');
                s.push_str(&(start + i).to_string());
            }
            Engine::Sqlite => s.push('?'),
        }
    }
    s
}

/// `($1,$2),($3,$4)…` for `rows` rows of `cols` columns.
pub fn values(engine: Engine, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        s.push_str(&list(engine, 1 + r * cols, cols));
        s.push(')');
    }
    s
}

/// Rows per statement for `cols` columns.
pub fn chunk_rows(cols: usize) -> usize {
    (MAX_PARAMS / cols).max(1)
}

/// Row lock suffix: PostgreSQL locks rows; SQLite's single writer already serializes.
pub fn for_update(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => " FOR UPDATE",
        Engine::Sqlite => "",
    }
}

pub fn for_share(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => " FOR SHARE",
        Engine::Sqlite => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn builds_lists() {
        use paycore_store::Engine;
        assert_eq!(super::list(Engine::Postgres, 3, 2), "$3,$4");
        assert_eq!(super::values(Engine::Postgres, 2, 2), "($1,$2),($3,$4)");
        assert_eq!(super::values(Engine::Sqlite, 1, 2), "(?,?)");
    }
}
