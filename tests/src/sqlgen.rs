//! A generator of random but valid queries over the TPC-H schema, for differential
//! testing against PostgreSQL and for metamorphic checks: joins along the schema's keys
//! (inner and left, so NULLs appear), typed expressions (arithmetic, CASE, COALESCE,
//! NULLIF, string functions, casts), NULL-heavy predicates, aggregates with GROUP BY,
//! ROLLUP, CUBE and GROUPING SETS, window functions, IN/EXISTS/scalar subqueries, set
//! operations, and LIMIT/OFFSET inside subqueries.
//!
//! Every query it writes has one answer in both engines: ORDER BY covers every output
//! column before a LIMIT, window orderings end with a unique key, and it avoids what
//! the two define differently on purpose (float formatting, rounding halves, text
//! collation is `C` on the PostgreSQL side).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The type of a column or expression, as far as the generator cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Num,
    Text,
    Date,
}

/// A TPC-H table: its name, alias prefix, columns and unique key.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub key: &'static [&'static str],
}

use Kind::{Date, Int, Num, Text};

/// The tables the generator reads (the `lake.tpch` schema).
pub const TABLES: &[Table] = &[
    Table {
        name: "nation",
        columns: &[
            ("n_nationkey", Int),
            ("n_name", Text),
            ("n_regionkey", Int),
            ("n_comment", Text),
        ],
        key: &["n_nationkey"],
    },
    Table {
        name: "region",
        columns: &[("r_regionkey", Int), ("r_name", Text), ("r_comment", Text)],
        key: &["r_regionkey"],
    },
    Table {
        name: "customer",
        columns: &[
            ("c_custkey", Int),
            ("c_name", Text),
            ("c_nationkey", Int),
            ("c_phone", Text),
            ("c_acctbal", Num),
            ("c_mktsegment", Text),
        ],
        key: &["c_custkey"],
    },
    Table {
        name: "orders",
        columns: &[
            ("o_orderkey", Int),
            ("o_custkey", Int),
            ("o_orderstatus", Text),
            ("o_totalprice", Num),
            ("o_orderdate", Date),
            ("o_orderpriority", Text),
            ("o_shippriority", Int),
        ],
        key: &["o_orderkey"],
    },
    Table {
        name: "lineitem",
        columns: &[
            ("l_orderkey", Int),
            ("l_partkey", Int),
            ("l_suppkey", Int),
            ("l_linenumber", Int),
            ("l_quantity", Num),
            ("l_extendedprice", Num),
            ("l_discount", Num),
            ("l_returnflag", Text),
            ("l_linestatus", Text),
            ("l_shipdate", Date),
            ("l_receiptdate", Date),
            ("l_shipmode", Text),
        ],
        key: &["l_orderkey", "l_linenumber"],
    },
    Table {
        name: "supplier",
        columns: &[
            ("s_suppkey", Int),
            ("s_name", Text),
            ("s_nationkey", Int),
            ("s_acctbal", Num),
        ],
        key: &["s_suppkey"],
    },
    Table {
        name: "part",
        columns: &[
            ("p_partkey", Int),
            ("p_name", Text),
            ("p_brand", Text),
            ("p_type", Text),
            ("p_size", Int),
            ("p_container", Text),
            ("p_retailprice", Num),
        ],
        key: &["p_partkey"],
    },
];

/// A join along a key: (left table, left column, right table, right column).
type Edge = (&'static str, &'static str, &'static str, &'static str);

/// Joins along the schema's keys.
const EDGES: &[Edge] = &[
    ("nation", "n_regionkey", "region", "r_regionkey"),
    ("customer", "c_nationkey", "nation", "n_nationkey"),
    ("supplier", "s_nationkey", "nation", "n_nationkey"),
    ("orders", "o_custkey", "customer", "c_custkey"),
    ("lineitem", "l_orderkey", "orders", "o_orderkey"),
    ("lineitem", "l_partkey", "part", "p_partkey"),
    ("lineitem", "l_suppkey", "supplier", "s_suppkey"),
];

/// A generated query and whether its rows come in a defined order.
pub struct Generated {
    pub sql: String,
    pub ordered: bool,
}

/// A column in scope: `alias.column` and its kind.
#[derive(Clone)]
struct Col {
    expr: String,
    kind: Kind,
}

/// The FROM clause of a query: its text and the columns it brings.
struct Source {
    from: String,
    cols: Vec<Col>,
}

/// The generator; the same seed writes the same queries.
pub struct QueryGen {
    rng: StdRng,
    aliases: usize,
}

fn table(name: &str) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

impl QueryGen {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            aliases: 0,
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// One table, or a chain of up to three along the schema's keys.
    fn source(&mut self) -> Source {
        let start = self.pick(TABLES);
        let alias = self.alias();
        let mut from = format!("lake.tpch.{} {alias}", start.name);
        let mut cols = columns(start, &alias);
        let mut joined = vec![(start.name, alias)];
        let joins = self.rng.random_range(0..=2);
        for _ in 0..joins {
            let candidates: Vec<(usize, &Edge, bool)> = EDGES
                .iter()
                .filter_map(|edge| {
                    let (l, _, r, _) = *edge;
                    let left = joined.iter().position(|(t, _)| *t == l);
                    let right = joined.iter().position(|(t, _)| *t == r);
                    match (left, right) {
                        (Some(i), None) => Some((i, edge, true)),
                        (None, Some(i)) => Some((i, edge, false)),
                        _ => None,
                    }
                })
                .collect();
            if candidates.is_empty() {
                break;
            }
            let (index, &(l, lc, r, rc), forward) = *self.pick(&candidates);
            let (new_table, on) = {
                let alias_in = joined[index].1.clone();
                let alias_new = self.alias();
                let (new_name, on) = if forward {
                    (r, format!("{alias_in}.{lc} = {alias_new}.{rc}"))
                } else {
                    (l, format!("{alias_new}.{lc} = {alias_in}.{rc}"))
                };
                joined.push((new_name, alias_new));
                (table(new_name), on)
            };
            let alias_new = joined.last().map(|(_, a)| a.clone()).unwrap_or_default();
            // Left joins keep unmatched rows with NULLs; a filter in ON thins the right.
            let left = self.chance(0.4);
            let extra = if left && self.chance(0.6) {
                let mut scope = columns(new_table, &alias_new);
                scope.retain(|c| c.kind != Text || !c.expr.ends_with("comment"));
                format!(" AND {}", self.predicate_over(&scope, 1))
            } else {
                String::new()
            };
            from.push_str(&format!(
                " {} JOIN lake.tpch.{} {alias_new} ON {on}{extra}",
                if left { "LEFT" } else { "INNER" },
                new_table.name
            ));
            cols.extend(columns(new_table, &alias_new));
        }
        Source { from, cols }
    }

    fn literal(&mut self, kind: Kind) -> String {
        match kind {
            Int => self.rng.random_range(-5..60).to_string(),
            Num => format!(
                "{}.{:02}",
                self.rng.random_range(-100..5000),
                self.rng.random_range(0..100)
            ),
            Text => {
                let words = [
                    "'A'",
                    "'F'",
                    "'N'",
                    "'O'",
                    "'R'",
                    "'AIR'",
                    "'MAIL'",
                    "'SHIP'",
                    "'TRUCK'",
                    "'BUILDING'",
                    "'MACHINERY'",
                    "'ASIA'",
                    "'EUROPE'",
                    "'GERMANY'",
                    "'1-URGENT'",
                    "'Brand#23'",
                    "'MED BOX'",
                    "''",
                ];
                (*self.pick(&words)).to_string()
            }
            Date => format!(
                "DATE '{}-{:02}-{:02}'",
                self.rng.random_range(1992..1999),
                self.rng.random_range(1..13),
                self.rng.random_range(1..29)
            ),
        }
    }

    fn column_of(&mut self, scope: &[Col], kind: Kind) -> Option<String> {
        let of_kind: Vec<&Col> = scope.iter().filter(|c| c.kind == kind).collect();
        (!of_kind.is_empty()).then(|| {
            of_kind[self.rng.random_range(0..of_kind.len())]
                .expr
                .clone()
        })
    }

    /// An expression of `kind` over `scope`.
    fn expr(&mut self, scope: &[Col], kind: Kind, depth: u32) -> String {
        let leaf = |g: &mut Self| {
            if g.chance(0.8) {
                g.column_of(scope, kind).unwrap_or_else(|| g.literal(kind))
            } else {
                g.literal(kind)
            }
        };
        if depth == 0 || self.chance(0.45) {
            return leaf(self);
        }
        let d = depth - 1;
        match (kind, self.rng.random_range(0..6)) {
            (_, 0) => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.predicate_over(scope, d),
                self.expr(scope, kind, d),
                self.expr(scope, kind, d)
            ),
            (_, 1) => format!(
                "COALESCE({}, {})",
                self.expr(scope, kind, d),
                self.literal(kind)
            ),
            (_, 2) => format!(
                "NULLIF({}, {})",
                self.expr(scope, kind, d),
                self.literal(kind)
            ),
            (Int, 3) => format!(
                "({} {} {})",
                self.expr(scope, Int, d),
                self.pick(&["+", "-", "*"]),
                self.expr(scope, Int, d)
            ),
            (Int, 4) => format!(
                "({} % {})",
                self.expr(scope, Int, d),
                self.rng.random_range(1..9)
            ),
            (Int, _) => match self.rng.random_range(0..3) {
                0 => format!("abs({})", self.expr(scope, Int, d)),
                1 => format!("length({})", self.expr(scope, Text, d)),
                _ => format!("CAST({} AS BIGINT)", self.expr(scope, Int, d)),
            },
            (Num, 3) => format!(
                "({} {} {})",
                self.expr(scope, Num, d),
                self.pick(&["+", "-"]),
                self.expr(scope, Num, d)
            ),
            (Num, 4) => format!(
                "({} * {})",
                self.expr(scope, Num, d),
                self.expr(scope, Int, d)
            ),
            (Num, _) => format!("abs({})", self.expr(scope, Num, d)),
            (Text, 3) => format!("upper({})", self.expr(scope, Text, d)),
            (Text, 4) => format!(
                "substr({}, {}, {})",
                self.expr(scope, Text, d),
                self.rng.random_range(1..4),
                self.rng.random_range(1..6)
            ),
            (Text, _) => format!(
                "({} || {})",
                self.expr(scope, Text, d),
                self.expr(scope, Text, d)
            ),
            (Date, _) => leaf(self),
        }
    }

    /// A boolean expression over `scope` that may be NULL.
    fn predicate_over(&mut self, scope: &[Col], depth: u32) -> String {
        if depth > 0 && self.chance(0.35) {
            let d = depth - 1;
            return match self.rng.random_range(0..3) {
                0 => format!(
                    "({} AND {})",
                    self.predicate_over(scope, d),
                    self.predicate_over(scope, d)
                ),
                1 => format!(
                    "({} OR {})",
                    self.predicate_over(scope, d),
                    self.predicate_over(scope, d)
                ),
                _ => format!("(NOT {})", self.predicate_over(scope, d)),
            };
        }
        let kinds: Vec<Kind> = scope.iter().map(|c| c.kind).collect();
        let kind = *self.pick(&kinds);
        let e = self.expr(scope, kind, depth.min(1));
        match self.rng.random_range(0..6) {
            0 => format!("{e} IS NULL"),
            1 => format!("{e} IS NOT NULL"),
            2 => {
                let (a, b) = (self.literal(kind), self.literal(kind));
                format!("{e} BETWEEN {a} AND {b}")
            }
            3 => {
                let list: Vec<String> = (0..self.rng.random_range(1..4))
                    .map(|_| self.literal(kind))
                    .collect();
                let not = if self.chance(0.3) { "NOT " } else { "" };
                format!("{e} {not}IN ({})", list.join(", "))
            }
            4 if kind == Text => {
                let patterns = ["'%A%'", "'B%'", "'%s'", "'%#2%'", "'_U%'", "'%'"];
                format!("{e} LIKE {}", self.pick(&patterns))
            }
            _ => {
                let op = *self.pick(&["=", "<>", "<", "<=", ">", ">="]);
                let other = if self.chance(0.5) {
                    self.literal(kind)
                } else {
                    self.expr(scope, kind, 0)
                };
                format!("{e} {op} {other}")
            }
        }
    }

    /// An aggregate call over `scope` and the kind of its result.
    fn aggregate(&mut self, scope: &[Col]) -> String {
        let kinds = [Int, Num, Text, Date];
        let kind = *self.pick(&kinds);
        let e = self.expr(scope, kind, 1);
        match (kind, self.rng.random_range(0..6)) {
            (_, 0) => "count(*)".into(),
            (_, 1) => format!("count({e})"),
            (_, 2) => format!("count(DISTINCT {e})"),
            (Int | Num, 3) => format!("sum({e})"),
            (Int | Num, 4) => format!("avg({e})"),
            (_, 3 | 4) => format!("max({e})"),
            _ => format!("min({e})"),
        }
    }

    /// A query for the differential test.
    pub fn query(&mut self) -> Generated {
        self.aliases = 0;
        match self.rng.random_range(0..10) {
            0..=2 => self.projection(),
            3..=5 => self.aggregation(),
            6 => self.window(),
            7 => self.nested_limit(),
            8 => self.subquery_filter(),
            _ => self.set_operation(),
        }
    }

    fn where_clause(&mut self, scope: &[Col]) -> String {
        if self.chance(0.8) {
            format!(" WHERE {}", self.predicate_over(scope, 2))
        } else {
            String::new()
        }
    }

    fn select_list(&mut self, scope: &[Col], n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let kinds = [Int, Num, Text, Date];
                let kind = *self.pick(&kinds);
                format!("{} AS c{i}", self.expr(scope, kind, 2))
            })
            .collect()
    }

    fn projection(&mut self) -> Generated {
        let source = self.source();
        let n = self.rng.random_range(1..5);
        let list = self.select_list(&source.cols, n);
        let distinct = if self.chance(0.2) { "DISTINCT " } else { "" };
        let mut sql = format!(
            "SELECT {distinct}{} FROM {}{}",
            list.join(", "),
            source.from,
            self.where_clause(&source.cols)
        );
        let ordered = self.chance(0.5);
        if ordered {
            sql.push_str(&order_all(n));
            sql.push_str(&self.limit_offset());
        }
        Generated { sql, ordered }
    }

    fn limit_offset(&mut self) -> String {
        let mut out = format!(" LIMIT {}", self.rng.random_range(0..40));
        if self.chance(0.5) {
            out.push_str(&format!(" OFFSET {}", self.rng.random_range(0..30)));
        }
        out
    }

    fn aggregation(&mut self) -> Generated {
        let source = self.source();
        let groups = self.rng.random_range(0..3);
        let keys: Vec<String> = (0..groups)
            .map(|_| {
                let kinds = [Int, Text, Date];
                let kind = *self.pick(&kinds);
                self.expr(&source.cols, kind, 1)
            })
            .collect();
        let aggs: Vec<String> = (0..self.rng.random_range(1..4))
            .map(|_| self.aggregate(&source.cols))
            .collect();
        let mut list: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS g{i}"))
            .collect();
        list.extend(aggs.iter().enumerate().map(|(i, a)| format!("{a} AS a{i}")));
        let mut sql = format!(
            "SELECT {} FROM {}{}",
            list.join(", "),
            source.from,
            self.where_clause(&source.cols)
        );
        if !keys.is_empty() {
            let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            // GROUPING SETS, ROLLUP and CUBE of plain columns, with and without the
            // empty set (over an empty input its grand-total row comes from the
            // gateway's own fix of apache/datafusion#21570); DataFusion refuses a set
            // whose key is a parenthesized expression.
            match (
                self.column_of(&source.cols, Int),
                self.column_of(&source.cols, Text),
            ) {
                (Some(a), Some(b)) if keys.len() == 2 && self.chance(0.3) => {
                    sql = sql.replacen(&format!("{} AS g0", keys[0]), &format!("{a} AS g0"), 1);
                    sql = sql.replacen(&format!("{} AS g1", keys[1]), &format!("{b} AS g1"), 1);
                    let sets = match self.rng.random_range(0..4) {
                        0 => format!("GROUPING SETS (({a}), ({b}), ({a}, {b}))"),
                        1 => format!("ROLLUP ({a}, {b})"),
                        2 => format!("CUBE ({a}, {b})"),
                        _ => format!("GROUPING SETS (({a}, {b}), ())"),
                    };
                    sql.push_str(&format!(" GROUP BY {sets}"));
                }
                _ => sql.push_str(&format!(" GROUP BY {}", positions.join(", "))),
            }
            if self.chance(0.3) {
                sql.push_str(&format!(
                    " HAVING count(*) > {}",
                    self.rng.random_range(0..5)
                ));
            }
        }
        let ordered = !keys.is_empty() && self.chance(0.4);
        if ordered {
            sql.push_str(&order_all(list.len()));
            sql.push_str(&self.limit_offset());
        }
        Generated { sql, ordered }
    }

    fn window(&mut self) -> Generated {
        // One table: its key orders the window totally.
        let t = self.pick(TABLES);
        let alias = self.alias();
        let cols = columns(t, &alias);
        let key: Vec<String> = t.key.iter().map(|k| format!("{alias}.{k}")).collect();
        let kinds = [Int, Text];
        let kind = *self.pick(&kinds);
        let part = self.expr(&cols, kind, 0);
        let value = self.expr(&cols, Num, 0);
        let function = match self.rng.random_range(0..5) {
            0 => format!(
                "row_number() OVER (PARTITION BY {part} ORDER BY {})",
                key.join(", ")
            ),
            1 => format!(
                "rank() OVER (PARTITION BY {part} ORDER BY {value}, {})",
                key.join(", ")
            ),
            2 => format!("sum({value}) OVER (PARTITION BY {part})"),
            3 => format!(
                "sum({value}) OVER (PARTITION BY {part} ORDER BY {} ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)",
                key.join(", ")
            ),
            _ => format!("count(*) OVER (PARTITION BY {part})"),
        };
        let sql = format!(
            "SELECT {}, {part} AS p, {function} AS w FROM lake.tpch.{} {alias}{}",
            key.join(", "),
            t.name,
            self.where_clause(&cols)
        );
        Generated {
            sql,
            ordered: false,
        }
    }

    fn nested_limit(&mut self) -> Generated {
        let source = self.source();
        let n = self.rng.random_range(1..4);
        let list = self.select_list(&source.cols, n);
        let inner = format!(
            "SELECT {} FROM {}{}{}{}",
            list.join(", "),
            source.from,
            self.where_clause(&source.cols),
            order_all(n),
            self.limit_offset()
        );
        let outer_cols: Vec<String> = (0..n).map(|i| format!("s.c{i}")).collect();
        let mut sql = format!("SELECT {} FROM ({inner}) s", outer_cols.join(", "));
        let ordered = self.chance(0.5);
        if ordered {
            sql.push_str(&order_all(n));
            sql.push_str(&self.limit_offset());
        } else if self.chance(0.5) {
            sql = format!("SELECT count(*), count(DISTINCT s.c0) FROM ({inner}) s");
        }
        Generated { sql, ordered }
    }

    fn subquery_filter(&mut self) -> Generated {
        let source = self.source();
        let n = self.rng.random_range(1..4);
        let list = self.select_list(&source.cols, n);
        let inner_alias = self.alias();
        let (outer_col, sub) = match self.rng.random_range(0..3) {
            0 => {
                let orders = columns(table("orders"), &inner_alias);
                let p = self.predicate_over(&orders, 1);
                (
                    self.column_of(&source.cols, Int)
                        .unwrap_or_else(|| "1".into()),
                    format!(
                        "IN (SELECT {inner_alias}.o_custkey FROM lake.tpch.orders {inner_alias} WHERE {p})"
                    ),
                )
            }
            1 => {
                let nation = columns(table("nation"), &inner_alias);
                let p = self.predicate_over(&nation, 1);
                let col = self
                    .column_of(&source.cols, Int)
                    .unwrap_or_else(|| "1".into());
                let not = if self.chance(0.3) { "NOT " } else { "" };
                return self.finish_subquery(
                    &list,
                    &source,
                    format!(
                        "{not}EXISTS (SELECT 1 FROM lake.tpch.nation {inner_alias} WHERE {inner_alias}.n_nationkey = {col} AND {p})"
                    ),
                );
            }
            _ => {
                let part = columns(table("part"), &inner_alias);
                let p = self.predicate_over(&part, 1);
                (
                    self.column_of(&source.cols, Num)
                        .unwrap_or_else(|| "0.0".into()),
                    format!(
                        "> (SELECT {} FROM lake.tpch.part {inner_alias} WHERE {p})",
                        self.pick(&[
                            format!("avg({inner_alias}.p_retailprice) / 2"),
                            format!("sum({inner_alias}.p_retailprice) / 1000"),
                            format!("max({inner_alias}.p_retailprice) / 3"),
                        ])
                    ),
                )
            }
        };
        self.finish_subquery(&list, &source, format!("{outer_col} {sub}"))
    }

    fn finish_subquery(
        &mut self,
        list: &[String],
        source: &Source,
        predicate: String,
    ) -> Generated {
        let sql = format!(
            "SELECT {} FROM {} WHERE {predicate}",
            list.join(", "),
            source.from
        );
        Generated {
            sql,
            ordered: false,
        }
    }

    fn set_operation(&mut self) -> Generated {
        let kinds = [Int, Text];
        let kind = *self.pick(&kinds);
        let side = |g: &mut Self| {
            let source = g.source();
            let e = g.expr(&source.cols, kind, 1);
            format!(
                "SELECT {e} AS v FROM {}{}",
                source.from,
                g.where_clause(&source.cols)
            )
        };
        let (a, b) = (side(self), side(self));
        let op = *self.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
        Generated {
            sql: format!("{a} {op} {b}"),
            ordered: false,
        }
    }

    /// A FROM clause and a predicate over it, for ternary logic partitioning.
    pub fn partitioned(&mut self) -> (String, String) {
        self.aliases = 0;
        let source = self.source();
        let p = self.predicate_over(&source.cols, 2);
        (source.from, p)
    }
}

fn columns(t: &Table, alias: &str) -> Vec<Col> {
    t.columns
        .iter()
        .map(|(name, kind)| Col {
            expr: format!("{alias}.{name}"),
            kind: *kind,
        })
        .collect()
}

/// ORDER BY every one of `n` output columns.
fn order_all(n: usize) -> String {
    let positions: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!(" ORDER BY {}", positions.join(", "))
}
