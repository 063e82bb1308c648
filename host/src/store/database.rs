//! One store, two databases: SQLite in a file, the embedded default, and
//! PostgreSQL on a server, for many machines reporting to one place.
//!
//! The store's statements are written once, in the SQL both understand,
//! with SQLite's numbered parameters (`?1`); PostgreSQL gets them as `$1`.
//! Values cross as [`Value`]s, integers and text only: the schema keeps
//! to `BIGINT` and `TEXT` on both, and a query that sums asks for a
//! `BIGINT` back (PostgreSQL's `SUM` of integers is a `NUMERIC`).
//! Whatever the dialects do differently, `CREATE TABLE` and the schema
//! version's place, is in [`super::schema`] and [`Database::version`].

use std::collections::HashMap;
use std::fmt;

use postgres::types::{ToSql, Type};

/// A parameter or a column's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Self {
        Value::Text(text.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// A row of a query's answer.
#[derive(Debug, Clone)]
pub struct Row(Vec<Value>);

impl Row {
    /// The integer in column `i`; a null reads as 0 (an empty sum).
    pub fn int(&self, i: usize) -> i64 {
        match &self.0[i] {
            Value::Int(n) => *n,
            _ => 0,
        }
    }

    /// A count in column `i`.
    pub fn count(&self, i: usize) -> u64 {
        self.int(i).max(0) as u64
    }

    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match &self.0[i] {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    pub fn opt_text(&self, i: usize) -> Option<String> {
        match &self.0[i] {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

/// What a database said went wrong.
#[derive(Debug)]
pub enum DatabaseError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// A column of a type the store never asks for.
    Column(String),
}

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseError::Sqlite(e) => write!(f, "{e}"),
            // Its own words are only the kind ("db error"); the server's
            // message is its source.
            DatabaseError::Postgres(e) => match std::error::Error::source(e) {
                Some(cause) => write!(f, "{e}: {cause}"),
                None => write!(f, "{e}"),
            },
            DatabaseError::Column(problem) => f.write_str(problem),
        }
    }
}

impl From<rusqlite::Error> for DatabaseError {
    fn from(e: rusqlite::Error) -> Self {
        DatabaseError::Sqlite(e)
    }
}

impl From<postgres::Error> for DatabaseError {
    fn from(e: postgres::Error) -> Self {
        DatabaseError::Postgres(e)
    }
}

pub type DbResult<T> = std::result::Result<T, DatabaseError>;

/// Which SQL a statement is written in, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// An open database.
pub enum Database {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        /// Statements prepared on the server, by their SQLite text.
        prepared: HashMap<String, postgres::Statement>,
    },
}

/// How long a SQLite store waits for another process's lock.
const SQLITE_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a connection to a server may take where its URL does not
/// say: a host that drops the packets would keep the connection waiting
/// for the system's two minutes and more, at the start and at the end.
const SERVER_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Database {
    /// Opens the SQLite file at `path`. Several runs may end at once on
    /// one machine: writers wait for each other rather than fail, and
    /// readers never wait for a writer.
    pub fn sqlite(path: &std::path::Path) -> DbResult<Self> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(SQLITE_BUSY_WAIT)?;
        // Turning a new file to WAL takes a lock SQLite answers "database
        // is locked" for at once, whatever the busy timeout: processes
        // opening a new store together failed here (6 and 8 rounds in 40
        // of four at once). So it is tried again, as long as the timeout
        // would wait.
        let waiting_since = std::time::Instant::now();
        while let Err(e) = connection.pragma_update(None, "journal_mode", "WAL") {
            let busy = e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy);
            if !busy || waiting_since.elapsed() > SQLITE_BUSY_WAIT {
                return Err(e.into());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", true)?;
        Ok(Database::Sqlite(connection))
    }

    /// Makes a SQLite store's commits and its close leave what they wrote
    /// in the write-ahead log, for [`Database::checkpoint`] to write into
    /// the database file. A checkpoint waits for the disk (four `fsync`s,
    /// 4 to 8 ms a run here), and a run's end should not. The log is kept
    /// when the connection closes, and is read back by the next to open
    /// the store. A commit still survives the process; it survives power
    /// loss once the log reaches the disk, as `synchronous = NORMAL`
    /// already had it. Nothing to do on PostgreSQL.
    pub fn defer_checkpoints(&mut self) -> DbResult<()> {
        if let Database::Sqlite(connection) = self {
            use rusqlite::config::DbConfig;
            connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            connection.file_control(
                Some(rusqlite::MAIN_DB),
                rusqlite::FileControl::PersistWal(&mut 1),
            )?;
            connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        Ok(())
    }

    /// Writes what SQLite's log holds into the database file, as far as
    /// other connections' reads allow, without waiting for them, and then
    /// starts the log over. SQLite starts it over at the first write after
    /// a checkpoint, and waits for the disk to take the new log's header:
    /// rewriting the schema version unchanged is that write, so that the
    /// wait falls here rather than in the next commit. Nothing to do on
    /// PostgreSQL.
    pub fn checkpoint(&mut self) -> DbResult<()> {
        if let Database::Sqlite(connection) = self {
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            let version = self.version()?;
            self.set_version(version)?;
        }
        Ok(())
    }

    /// Connects to the PostgreSQL server a `postgres://` URL names, within
    /// [`SERVER_CONNECT_TIMEOUT`] unless the URL sets `connect_timeout`.
    pub fn postgres(url: &str) -> DbResult<Self> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(SERVER_CONNECT_TIMEOUT);
        }
        let client = config.connect(postgres::NoTls)?;
        Ok(Database::Postgres {
            client: Box::new(client),
            prepared: HashMap::new(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Runs statements without parameters or answers (schema changes).
    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        match self {
            Database::Sqlite(connection) => connection.execute_batch(sql)?,
            Database::Postgres { client, .. } => client.batch_execute(sql)?,
        }
        Ok(())
    }

    /// Runs a statement; answers how many rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        match self {
            Database::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let changed = statement.execute(rusqlite::params_from_iter(params))?;
                Ok(changed as u64)
            }
            Database::Postgres { client, prepared } => {
                let statement = prepare(client, prepared, sql)?;
                let bound = bind(&statement, params);
                Ok(client.execute(&statement, &borrowed(&bound))?)
            }
        }
    }

    /// Runs a query; answers its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        match self {
            Database::Sqlite(connection) => {
                let mut statement = connection.prepare_cached(sql)?;
                let width = statement.column_count();
                let rows = statement.query_map(rusqlite::params_from_iter(params), |row| {
                    (0..width).map(|i| sqlite_value(row, i)).collect()
                })?;
                Ok(rows.map(|row| row.map(Row)).collect::<Result<_, _>>()?)
            }
            Database::Postgres { client, prepared } => {
                let statement = prepare(client, prepared, sql)?;
                let bound = bind(&statement, params);
                let rows = client.query(&statement, &borrowed(&bound))?;
                rows.iter().map(postgres_row).collect()
            }
        }
    }

    /// The first row of a query's answer, if any.
    pub fn query_row(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs `work` in a transaction, committed if it succeeds and rolled
    /// back if not. SQLite's takes the write lock at once, so that two
    /// writers wait for each other instead of failing at their first write.
    pub fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Database) -> DbResult<T>,
    ) -> DbResult<T> {
        self.batch(match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        })?;
        match work(self) {
            Ok(done) => {
                self.batch("COMMIT")?;
                Ok(done)
            }
            Err(e) => {
                // The error that stopped the work is the one to tell.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The schema version the store records: SQLite's `user_version`, a
    /// table of its own on PostgreSQL (made here, at 0). Inside a
    /// transaction, so that stores opened at once migrate one at a time
    /// (PostgreSQL's lock is held until the transaction ends).
    pub fn version(&mut self) -> DbResult<i64> {
        match self {
            Database::Sqlite(connection) => {
                Ok(connection.pragma_query_value(None, "user_version", |row| row.get(0))?)
            }
            Database::Postgres { client, .. } => {
                client.batch_execute(&format!(
                    "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
                     CREATE TABLE IF NOT EXISTS proctor_schema (version BIGINT NOT NULL);
                     INSERT INTO proctor_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM proctor_schema);"
                ))?;
                let row = client.query_one("SELECT version FROM proctor_schema", &[])?;
                Ok(row.get(0))
            }
        }
    }

    pub fn set_version(&mut self, version: i64) -> DbResult<()> {
        match self {
            Database::Sqlite(connection) => {
                connection.pragma_update(None, "user_version", version)?
            }
            Database::Postgres { client, .. } => {
                client.execute("UPDATE proctor_schema SET version = $1", &[&version])?;
            }
        }
        Ok(())
    }
}

/// The advisory lock migrations hold on PostgreSQL ("proctor" in ASCII).
const MIGRATION_LOCK: i64 = 0x70726f63746f72;

/// The statement for SQLite's `sql`, prepared once per connection.
fn prepare(
    client: &mut postgres::Client,
    prepared: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> DbResult<postgres::Statement> {
    if let Some(statement) = prepared.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(&numbered_as_dollars(sql))?;
    prepared.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

/// SQLite's `?1` as PostgreSQL's `$1`. The store's statements hold no `?`
/// but its parameters'.
fn numbered_as_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

/// Each value as the type the server asks of its parameter: a null is a
/// null of that type, an integer narrows to a smaller integer column.
fn bind(statement: &postgres::Statement, params: &[Value]) -> Vec<Box<dyn ToSql + Sync>> {
    (statement.params().iter().zip(params))
        .map(|(ty, value)| -> Box<dyn ToSql + Sync> {
            match (value, ty) {
                (Value::Null, &Type::INT8) => Box::new(None::<i64>),
                (Value::Null, &Type::INT4) => Box::new(None::<i32>),
                (Value::Null, _) => Box::new(None::<String>),
                (Value::Int(n), &Type::INT4) => Box::new(i32::try_from(*n).unwrap_or(i32::MAX)),
                (Value::Int(n), _) => Box::new(*n),
                (Value::Text(text), _) => Box::new(text.clone()),
            }
        })
        .collect()
}

fn borrowed(bound: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    bound.iter().map(|b| b.as_ref()).collect()
}

fn sqlite_value(row: &rusqlite::Row, i: usize) -> rusqlite::Result<Value> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(i)? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(x) => Value::Int(x as i64),
        ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(_) => Value::Null,
    })
}

fn postgres_row(row: &postgres::Row) -> DbResult<Row> {
    let values = (row.columns().iter().enumerate())
        .map(|(i, column)| {
            Ok(match *column.type_() {
                Type::INT8 => row.get::<_, Option<i64>>(i).into(),
                Type::INT4 => row.get::<_, Option<i32>>(i).map(i64::from).into(),
                Type::INT2 => row.get::<_, Option<i16>>(i).map(i64::from).into(),
                Type::BOOL => row.get::<_, Option<bool>>(i).map(i64::from).into(),
                Type::TEXT | Type::VARCHAR | Type::NAME => {
                    row.get::<_, Option<String>>(i).map(Value::Text).into()
                }
                ref other => {
                    return Err(DatabaseError::Column(format!(
                        "column {} is of type {other}, which the store does not read",
                        column.name()
                    )))
                }
            })
        })
        .collect::<DbResult<_>>()?;
    Ok(Row(values))
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_opened_by_many_at_once_opens_for_each() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..30 {
            let path = dir.path().join(format!("history-{round}.db"));
            let start = std::sync::Barrier::new(6);
            let opened: Vec<DbResult<Database>> = std::thread::scope(|scope| {
                let opening: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            start.wait();
                            Database::sqlite(&path)
                        })
                    })
                    .collect();
                opening.into_iter().map(|o| o.join().unwrap()).collect()
            });
            for database in opened {
                if let Err(e) = database {
                    panic!("round {round}: {e}");
                }
            }
        }
    }

    #[test]
    fn numbered_parameters_become_dollars_and_nothing_else_changes() {
        assert_eq!(
            numbered_as_dollars("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10) AND d = '?'"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $10) AND d = '?'"
        );
    }
}
