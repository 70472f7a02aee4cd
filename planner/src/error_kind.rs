//! What went wrong, in terms a client can act on, and its SQLSTATE.

/// What went wrong, in terms a client can act on. Frontends match on this
/// exhaustively to pick their protocol's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The SQL does not parse.
    Syntax,
    /// A table, view or schema that does not exist.
    UndefinedTable,
    /// A column that does not exist.
    UndefinedColumn,
    /// A function that does not exist.
    UndefinedFunction,
    /// A setting or other named object that does not exist.
    UndefinedObject,
    /// A column reference that matches several columns.
    AmbiguousColumn,
    /// A column outside GROUP BY, or an aggregate where rows are filtered or grouped.
    Grouping,
    /// Values of incompatible types.
    DatatypeMismatch,
    /// A value that is not valid for its type or parameter.
    InvalidParameterValue,
    /// Division by zero.
    DivisionByZero,
    /// A number outside its type's range ("integer out of range").
    NumericOutOfRange,
    /// Text that is not a value of the type it is cast to (`'abc'::int`).
    InvalidTextRepresentation,
    /// Text that is not a date, time or interval of the type it is cast to
    /// (`'ALGERIA'::interval`, 22007).
    InvalidDatetimeFormat,
    /// Any other error in the data (casts, overflow…).
    DataException,
    /// A date, time or timestamp outside what the protocol can carry (22008).
    DatetimeOverflow,
    /// A login the server refuses before any password (28000): an unknown role, a
    /// connection without the TLS the server requires.
    InvalidAuthorization,
    /// A wrong password (28P01).
    InvalidPassword,
    /// A message for a connection that has no session (08003).
    ConnectionDoesNotExist,
    /// A statement in a transaction block that has failed (25P02).
    InFailedTransaction,
    /// A prepared statement that does not exist (26000).
    InvalidPreparedStatement,
    /// Parameters that do not match the statement.
    ProtocolViolation,
    /// A statement the gateway does not support.
    FeatureNotSupported,
    /// The statement is not allowed in this read-only gateway.
    ReadOnly,
    /// Memory or another resource ran out.
    ResourceExhausted,
    /// The query needs more memory than its limit allows and cannot spill (53200).
    OutOfMemory,
    /// The listener serves its maximum number of connections, in total or for the
    /// user (53300).
    TooManyConnections,
    /// The session sent nothing for `idle_session_timeout` (57P05).
    IdleSessionTimeout,
    /// Storage cannot be read or written: the audit trail, or object storage that still
    /// fails after its retries (58030).
    IoError,
    /// A regular expression that does not compile (2201B).
    InvalidRegularExpression,
    /// A value larger than PostgreSQL allows ("requested length too large", 54000).
    ProgramLimitExceeded,
    /// A source database cannot be reached (08001, as postgres_fdw reports it).
    UnableToConnect,
    /// A source database's connection broke while the query used it (08006).
    ConnectionFailure,
    /// A configured limit or budget refuses the query (53400), before it runs.
    LimitExceeded,
    /// The query was cancelled.
    Canceled,
    /// The statement ran past `statement_timeout` or the client's deadline (57014).
    Timeout,
    /// The policy denies the object.
    InsufficientPrivilege,
    /// A policy rule cannot be applied (bad expression, missing attribute).
    PolicyMisconfigured,
    /// A transaction-block command outside a transaction block (SAVEPOINT, DECLARE).
    NoActiveTransaction,
    /// A savepoint that does not exist.
    InvalidSavepoint,
    /// A cursor that does not exist.
    InvalidCursorName,
    /// A cursor name that is already in use.
    DuplicateCursor,
    /// An object that cannot do this in its state (a forward-only cursor asked to
    /// scroll back).
    ObjectNotInPrerequisiteState,
    /// A NULL written into a required column (23502).
    NotNullViolation,
    /// A concurrent writer won; the statement may be retried (40001).
    SerializationFailure,
    /// CREATE TABLE of a name that exists (42P07).
    DuplicateTable,
    /// A bug or an unexpected failure of storage; details are in the server log.
    Internal,
}

impl ErrorKind {
    /// The SQLSTATE of this kind. Exhaustive: a new kind must be classified here.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "42601",
            ErrorKind::UndefinedTable => "42P01",
            ErrorKind::UndefinedColumn => "42703",
            ErrorKind::UndefinedFunction => "42883",
            ErrorKind::UndefinedObject => "42704",
            ErrorKind::AmbiguousColumn => "42702",
            ErrorKind::Grouping => "42803",
            ErrorKind::NotNullViolation => "23502",
            ErrorKind::SerializationFailure => "40001",
            ErrorKind::DuplicateTable => "42P07",
            ErrorKind::DatatypeMismatch => "42804",
            ErrorKind::InvalidParameterValue => "22023",
            ErrorKind::DivisionByZero => "22012",
            ErrorKind::NumericOutOfRange => "22003",
            ErrorKind::InvalidTextRepresentation => "22P02",
            ErrorKind::InvalidDatetimeFormat => "22007",
            ErrorKind::DataException => "22000",
            ErrorKind::DatetimeOverflow => "22008",
            ErrorKind::InvalidAuthorization => "28000",
            ErrorKind::InvalidPassword => "28P01",
            ErrorKind::ConnectionDoesNotExist => "08003",
            ErrorKind::InFailedTransaction => "25P02",
            ErrorKind::InvalidPreparedStatement => "26000",
            ErrorKind::ProtocolViolation => "08P01",
            ErrorKind::FeatureNotSupported => "0A000",
            ErrorKind::ReadOnly => "25006",
            ErrorKind::ResourceExhausted => "53000",
            ErrorKind::OutOfMemory => "53200",
            ErrorKind::TooManyConnections => "53300",
            ErrorKind::IdleSessionTimeout => "57P05",
            ErrorKind::IoError => "58030",
            ErrorKind::ProgramLimitExceeded => "54000",
            ErrorKind::InvalidRegularExpression => "2201B",
            ErrorKind::UnableToConnect => "08001",
            ErrorKind::ConnectionFailure => "08006",
            ErrorKind::LimitExceeded => "53400",
            ErrorKind::Canceled | ErrorKind::Timeout => "57014",
            ErrorKind::InsufficientPrivilege => "42501",
            ErrorKind::PolicyMisconfigured => "F0000",
            ErrorKind::NoActiveTransaction => "25P01",
            ErrorKind::InvalidSavepoint => "3B001",
            ErrorKind::InvalidCursorName => "34000",
            ErrorKind::DuplicateCursor => "42P03",
            ErrorKind::ObjectNotInPrerequisiteState => "55000",
            ErrorKind::Internal => "XX000",
        }
    }
}
