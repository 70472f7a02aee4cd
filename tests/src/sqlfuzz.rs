//! Random SQL statements, mostly wrong, for the SQL fuzz test: expressions of functions
//! with any number of arguments of any type, casts to and from every type, operators on
//! mismatched operands, literals at the edges of their types, joins and subqueries over
//! the TPC-H schema, and valid generated queries (`sqlgen`) mutated token by token.
//! Whatever it writes, the gateway must answer or refuse with a SQLSTATE; it must never
//! panic, hang or drop the connection.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sqlgen::QueryGen;

/// Columns of the TPC-H tables, with the table they belong to.
const COLUMNS: &[(&str, &str)] = &[
    ("nation", "n_nationkey"),
    ("nation", "n_name"),
    ("nation", "n_regionkey"),
    ("nation", "n_comment"),
    ("region", "r_regionkey"),
    ("region", "r_name"),
    ("customer", "c_custkey"),
    ("customer", "c_name"),
    ("customer", "c_acctbal"),
    ("customer", "c_mktsegment"),
    ("customer", "c_nationkey"),
    ("orders", "o_orderkey"),
    ("orders", "o_custkey"),
    ("orders", "o_totalprice"),
    ("orders", "o_orderdate"),
    ("orders", "o_orderstatus"),
    ("orders", "o_orderpriority"),
    ("lineitem", "l_orderkey"),
    ("lineitem", "l_quantity"),
    ("lineitem", "l_extendedprice"),
    ("lineitem", "l_discount"),
    ("lineitem", "l_shipdate"),
    ("lineitem", "l_returnflag"),
    ("lineitem", "l_comment"),
    ("part", "p_partkey"),
    ("part", "p_name"),
    ("part", "p_retailprice"),
    ("part", "p_size"),
    ("supplier", "s_suppkey"),
    ("supplier", "s_acctbal"),
    ("partsupp", "ps_availqty"),
    ("partsupp", "ps_supplycost"),
];

/// Functions PostgreSQL, DataFusion or the gateway know (and some none does).
const FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "round",
    "trunc",
    "sqrt",
    "cbrt",
    "exp",
    "ln",
    "log",
    "log10",
    "power",
    "mod",
    "sign",
    "pi",
    "random",
    "greatest",
    "least",
    "coalesce",
    "nullif",
    "length",
    "char_length",
    "octet_length",
    "lower",
    "upper",
    "initcap",
    "substr",
    "substring",
    "left",
    "right",
    "lpad",
    "rpad",
    "ltrim",
    "rtrim",
    "btrim",
    "trim",
    "replace",
    "repeat",
    "reverse",
    "strpos",
    "position",
    "split_part",
    "concat",
    "concat_ws",
    "md5",
    "sha256",
    "to_hex",
    "ascii",
    "chr",
    "translate",
    "starts_with",
    "regexp_replace",
    "regexp_match",
    "regexp_like",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_number",
    "date_trunc",
    "date_part",
    "extract",
    "date_bin",
    "now",
    "current_date",
    "make_date",
    "age",
    "justify_days",
    "array_agg",
    "string_agg",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "variance",
    "bool_and",
    "bool_or",
    "median",
    "percentile_cont",
    "approx_distinct",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "ntile",
    "array_length",
    "cardinality",
    "unnest",
    "generate_series",
    "array_to_string",
    "string_to_array",
    "encode",
    "decode",
    "format",
    "quote_ident",
    "pg_typeof",
    "version",
    "current_setting",
    "set_config",
    "has_table_privilege",
    "pg_get_expr",
    "obj_description",
    "to_timestamp_millis",
    "arrow_typeof",
    "nvl",
    "ifnull",
    "digest",
    "uuid",
    "gen_random_uuid",
    "isfinite",
    "no_such_function",
    "width_bucket",
    "factorial",
    "gcd",
    "lcm",
    "atan2",
    "degrees",
];

/// Types to cast to, valid and not.
const TYPES: &[&str] = &[
    "int",
    "smallint",
    "bigint",
    "int2",
    "int4",
    "int8",
    "numeric",
    "numeric(5,2)",
    "numeric(38,10)",
    "decimal(3,0)",
    "real",
    "float",
    "float8",
    "double precision",
    "text",
    "varchar",
    "varchar(3)",
    "char(2)",
    "bytea",
    "boolean",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "timestamp(3)",
    "interval",
    "uuid",
    "json",
    "jsonb",
    "oid",
    "regclass",
    "int[]",
    "text[]",
    "money",
    "inet",
    "no_such_type",
    "bit(4)",
    "name",
];

/// Literals, many at the edges of their types.
const LITERALS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2147483647",
    "-2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e308",
    "1e309",
    "-0.0",
    "'NaN'",
    "'Infinity'",
    "'-infinity'",
    "0.000000000000000000000000000001",
    "123456789012345678901234567890.123",
    "NULL",
    "true",
    "false",
    "''",
    "'a'",
    "'abc'",
    "'ß€😀'",
    "'\\x00'",
    "E'\\\\'",
    "'1999-12-31'",
    "'2000-02-30'",
    "'0001-01-01'",
    "'9999-12-31 23:59:59.999999'",
    "DATE '1998-12-01'",
    "TIMESTAMP '2262-04-12 00:00:00'",
    "TIMESTAMP '1677-09-21 00:12:43'",
    "INTERVAL '1 day'",
    "INTERVAL '-178000000 years'",
    "INTERVAL '1 month 2 days 3 hours'",
    "ARRAY[1,2,3]",
    "ARRAY[]::int[]",
    "ARRAY[NULL]",
    "'{1,2}'",
    "'[1,2'",
    "'%'",
    "'_'",
    "'.*'",
    "'(('",
    "X'FF'",
    "'\\xDEADBEEF'::bytea",
    "$1",
    "(SELECT 1)",
    "(SELECT n_name FROM lake.tpch.nation)",
    "(VALUES (1), (2))",
];

/// Binary operators, for any operands.
const OPERATORS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "||",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "AND",
    "OR",
    "LIKE",
    "ILIKE",
    "NOT LIKE",
    "~",
    "!~",
    "IS DISTINCT FROM",
    "<<",
    ">>",
    "&",
    "|",
    "#",
    "@>",
    "&&",
    "->",
    "->>",
    "IN",
    "BETWEEN 1 AND",
    "SIMILAR TO",
];

/// Tokens to insert into valid queries.
const TOKENS: &[&str] = &[
    "(",
    ")",
    ",",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "LIMIT",
    "OFFSET",
    "UNION",
    "JOIN",
    "ON",
    "NOT",
    "NULL",
    "CASE",
    "WHEN",
    "END",
    "::",
    "*",
    "'",
    "\"",
    ";",
    "DISTINCT",
    "ALL",
    "ANY",
    "OVER",
    "PARTITION BY",
    "LATERAL",
    "WITH",
    "RECURSIVE",
    "FILTER",
    "WITHIN GROUP",
    "-- x",
    "/*",
    "$1",
    "$0",
    "$99999999999",
    "\\",
];

/// A seeded generator of fuzz statements.
pub struct SqlFuzz {
    rng: StdRng,
    valid: QueryGen,
}

impl SqlFuzz {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            valid: QueryGen::new(seed ^ 0x5eed),
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    /// The next statement.
    pub fn statement(&mut self) -> String {
        match self.rng.random_range(0..12) {
            0 | 1 => self.select(),
            2 | 3 => self.mutated(),
            4 => format!("SELECT {}", self.expr(4)),
            5 => self.join(),
            6 | 7 => self.edge_call(),
            8 | 9 => {
                // A valid query, with an edge expression beside its columns.
                let valid = self.valid.query().sql;
                format!(
                    "SELECT {}, q.* FROM ({valid}) q LIMIT 20",
                    self.edge_call_expr()
                )
            }
            _ => self.odd_statement(),
        }
    }

    /// A call of a known function with arguments of fitting kinds at their edges.
    fn edge_call_expr(&mut self) -> String {
        let numbers = [
            "0",
            "-1",
            "2147483647",
            "-9223372036854775808",
            "1e308",
            "0.5",
            "-0.0",
            "123456789.123456789",
            "NULL",
            "'NaN'::double precision",
        ];
        let texts = ["''", "'a'", "'ß€😀'", "NULL", "'%_\\'", "repeat('x', 1000)"];
        let dates = [
            "DATE '0001-01-01'",
            "DATE '9999-12-31'",
            "DATE '1970-01-01'",
            "NULL::date",
            "TIMESTAMP '2262-04-11 23:47:16'",
            "TIMESTAMP '1677-09-21 00:12:44'",
        ];
        let n = |fuzz: &mut Self| fuzz.pick(&numbers).to_string();
        let t = |fuzz: &mut Self| fuzz.pick(&texts).to_string();
        let d = |fuzz: &mut Self| fuzz.pick(&dates).to_string();
        match self.rng.random_range(0..24) {
            0 => format!("round({}, {})", n(self), n(self)),
            1 => format!("trunc({}, {})", n(self), n(self)),
            2 => format!("power({}, {})", n(self), n(self)),
            3 => format!("mod({}, {})", n(self), n(self)),
            4 => format!("sqrt({})", n(self)),
            5 => format!("ln({})", n(self)),
            6 => format!("substr({}, {}, {})", t(self), n(self), n(self)),
            7 => format!("lpad({}, {}, {})", t(self), n(self), t(self)),
            8 => format!("repeat({}, {})", t(self), n(self)),
            9 => format!("split_part({}, {}, {})", t(self), t(self), n(self)),
            10 => format!("left({}, {})", t(self), n(self)),
            11 => format!("chr({})", n(self)),
            12 => format!("to_char({}, {})", d(self), t(self)),
            13 => format!("date_trunc({}, {})", t(self), d(self)),
            14 => format!("date_part({}, {})", t(self), d(self)),
            15 => format!(
                "({} + INTERVAL '{} days')",
                d(self),
                n(self).trim_matches('\'')
            ),
            16 => format!("({} - {})", d(self), d(self)),
            17 => format!("make_date({}, {}, {})", n(self), n(self), n(self)),
            18 => format!("CAST({} AS {})", n(self), self.pick(TYPES)),
            19 => format!("CAST({} AS {})", t(self), self.pick(TYPES)),
            20 => format!("CAST({} AS {})", d(self), self.pick(TYPES)),
            21 => format!("({} {} {})", n(self), self.pick(OPERATORS), n(self)),
            22 => format!("regexp_replace({}, {}, {})", t(self), t(self), t(self)),
            _ => format!(
                "width_bucket({}, {}, {}, {})",
                n(self),
                n(self),
                n(self),
                n(self)
            ),
        }
    }

    /// Edge calls over a table's rows.
    fn edge_call(&mut self) -> String {
        let table = self.column().0;
        let items: Vec<String> = (0..self.rng.random_range(1..4))
            .map(|_| self.edge_call_expr())
            .collect();
        format!("SELECT {} FROM lake.tpch.{table} LIMIT 3", items.join(", "))
    }

    fn column(&mut self) -> (&'static str, &'static str) {
        COLUMNS[self.rng.random_range(0..COLUMNS.len())]
    }

    /// A random expression over the columns of `lake.tpch.*` (unqualified names).
    fn expr(&mut self, depth: u32) -> String {
        if depth == 0 {
            return match self.rng.random_range(0..3) {
                0 => self.column().1.to_string(),
                _ => self.pick(LITERALS).to_string(),
            };
        }
        match self.rng.random_range(0..9) {
            0 | 1 => {
                let function = self.pick(FUNCTIONS);
                let arity = self.rng.random_range(0..4);
                let args: Vec<String> = (0..arity).map(|_| self.expr(depth - 1)).collect();
                let distinct = if self.rng.random_bool(0.05) {
                    "DISTINCT "
                } else {
                    ""
                };
                format!("{function}({distinct}{})", args.join(", "))
            }
            2 => format!("CAST({} AS {})", self.expr(depth - 1), self.pick(TYPES)),
            3 => format!("({})::{}", self.expr(depth - 1), self.pick(TYPES)),
            4 | 5 => format!(
                "({} {} {})",
                self.expr(depth - 1),
                self.pick(OPERATORS),
                self.expr(depth - 1)
            ),
            6 => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.expr(depth - 1),
                self.expr(depth - 1),
                self.expr(depth - 1)
            ),
            7 => format!(
                "{} IS {}NULL",
                self.expr(depth - 1),
                if self.rng.random_bool(0.5) {
                    "NOT "
                } else {
                    ""
                }
            ),
            _ => format!("-({})", self.expr(depth - 1)),
        }
    }

    fn select(&mut self) -> String {
        let table = self.column().0;
        let items: Vec<String> = (0..self.rng.random_range(1..4))
            .map(|_| self.expr(3))
            .collect();
        let mut sql = format!("SELECT {} FROM lake.tpch.{table}", items.join(", "));
        if self.rng.random_bool(0.5) {
            sql.push_str(&format!(" WHERE {}", self.expr(3)));
        }
        if self.rng.random_bool(0.3) {
            sql.push_str(&format!(" GROUP BY {}", self.expr(1)));
        }
        if self.rng.random_bool(0.3) {
            sql.push_str(&format!(" ORDER BY {}", self.expr(2)));
        }
        sql.push_str(&format!(" LIMIT {}", self.rng.random_range(0..20)));
        sql
    }

    fn join(&mut self) -> String {
        let (left, a) = self.column();
        let (right, b) = self.column();
        let kind = self.pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN"]);
        let on = if kind == "CROSS JOIN" {
            String::new()
        } else {
            format!(" ON x.{a} = y.{b}")
        };
        format!(
            "SELECT count(*), {} FROM lake.tpch.{left} x {kind} lake.tpch.{right} y{on} \
             WHERE x.{a} IS NOT NULL AND {} GROUP BY 2 LIMIT 10",
            self.expr(2),
            self.expr(2)
        )
    }

    /// A valid generated query with a few tokens dropped, repeated, swapped or added.
    fn mutated(&mut self) -> String {
        let sql = self.valid.query().sql;
        let mut tokens: Vec<String> = sql.split(' ').map(str::to_string).collect();
        for _ in 0..self.rng.random_range(1..4) {
            if tokens.is_empty() {
                break;
            }
            let at = self.rng.random_range(0..tokens.len());
            match self.rng.random_range(0..5) {
                0 => {
                    tokens.remove(at);
                }
                1 => {
                    let copy = tokens[at].clone();
                    tokens.insert(at, copy);
                }
                2 => {
                    let other = self.rng.random_range(0..tokens.len());
                    tokens.swap(at, other);
                }
                3 => tokens.insert(at, self.pick(TOKENS).to_string()),
                _ => tokens[at] = self.expr(2),
            }
        }
        tokens.join(" ")
    }

    /// Statements other than queries: settings, catalog commands, transactions,
    /// EXPLAIN, prepared statements and cursors with odd arguments.
    fn odd_statement(&mut self) -> String {
        let expr = self.expr(2);
        match self.rng.random_range(0..10) {
            0 => format!("SET statement_timeout = {}", self.pick(LITERALS)),
            1 => format!("SET {} = {}", self.pick(FUNCTIONS), self.pick(LITERALS)),
            2 => format!("SHOW {}", self.pick(FUNCTIONS)),
            3 => format!("EXPLAIN SELECT {expr}"),
            4 => format!("PREPARE p{} AS SELECT {expr}", self.rng.random_range(0..3)),
            5 => format!(
                "EXECUTE p{}({})",
                self.rng.random_range(0..3),
                self.pick(LITERALS)
            ),
            6 => format!("DECLARE c CURSOR FOR SELECT {expr}"),
            7 => format!("VALUES ({expr}), ({})", self.expr(1)),
            8 => format!(
                "SELECT * FROM (VALUES ({expr})) t(x) WHERE x {} x",
                self.pick(OPERATORS)
            ),
            _ => format!("WITH t AS (SELECT {expr} AS x) SELECT x, count(*) FROM t GROUP BY x"),
        }
    }
}
