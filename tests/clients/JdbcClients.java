// Client-compatibility checks with pgjdbc (Debian's libpostgresql-jdbc-java), the driver
// of DBeaver, Metabase and most JVM tools. Run by the Rust integration test
// `clients::pgjdbc` against a gateway on port 0:
//
//     java -cp /usr/share/java/postgresql.jar:. JdbcClients HOST PORT
//
// Each check compares rows with expected values; exits non-zero if any failed.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcClients {
    static String url;
    static int failed = 0;

    interface Check {
        void run() throws Exception;
    }

    static void check(String name, Check check) {
        long started = System.nanoTime();
        try {
            check.run();
            System.out.printf("ok   %s (%.2fs)%n", name, (System.nanoTime() - started) / 1e9);
        } catch (Throwable t) {
            failed++;
            System.out.println("FAIL " + name);
            t.printStackTrace(System.out);
        }
    }

    static void expect(Object actual, Object expected, String what) {
        if (!expected.equals(actual)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    static Connection connect(String password) throws SQLException {
        Properties props = new Properties();
        props.setProperty("user", "demo");
        props.setProperty("password", password);
        return DriverManager.getConnection(url, props);
    }

    public static void main(String[] args) throws Exception {
        url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/lake";

        check("prepared statement seven times: server-prepared, binary transfer", () -> {
            try (Connection c = connect("demo");
                 PreparedStatement ps = c.prepareStatement(
                     "SELECT n_name, n_nationkey, n_regionkey FROM lake.tpch.nation WHERE n_nationkey = ?")) {
                String[] expected = {"ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT", "ETHIOPIA", "FRANCE", "GERMANY"};
                for (int i = 0; i < expected.length; i++) {
                    ps.setInt(1, i);
                    try (ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), true, "row " + i);
                        expect(rs.getString(1), expected[i], "name " + i);
                        expect(rs.getLong(2), (long) i, "key " + i);
                        expect(rs.next(), false, "one row " + i);
                    }
                }
                // After prepareThreshold (5) executions pgjdbc uses a named server statement.
                expect(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(), true,
                    "server-prepared");
            }
        });

        check("typed values and parameters", () -> {
            try (Connection c = connect("demo");
                 PreparedStatement ps = c.prepareStatement(
                     "SELECT o_totalprice, o_orderdate, o_orderpriority FROM lake.tpch.orders WHERE o_orderkey = ?")) {
                for (int run = 0; run < 7; run++) {
                    ps.setLong(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        expect(rs.next(), true, "order 1");
                        expect(rs.getBigDecimal(1).scale(), 2, "numeric scale");
                        expect(rs.getDate(2).toLocalDate().getYear() >= 1992, true, "date");
                        expect(rs.getString(3).isEmpty(), false, "priority");
                    }
                }
                try (PreparedStatement typed = c.prepareStatement(
                         "SELECT CAST(? AS INT) + 1, CAST(? AS NUMERIC(10,2)), CAST(? AS TEXT) || 'x', CAST(? AS BOOLEAN)")) {
                    typed.setInt(1, 41);
                    typed.setBigDecimal(2, new BigDecimal("12.34"));
                    typed.setString(3, "a");
                    typed.setBoolean(4, true);
                    try (ResultSet rs = typed.executeQuery()) {
                        rs.next();
                        expect(rs.getInt(1), 42, "int parameter");
                        expect(rs.getBigDecimal(2), new BigDecimal("12.34"), "numeric parameter");
                        expect(rs.getString(3), "ax", "text parameter");
                        expect(rs.getBoolean(4), true, "boolean parameter");
                    }
                }
            }
        });

        check("fetch size streams through a portal", () -> {
            try (Connection c = connect("demo")) {
                c.setAutoCommit(false);
                try (Statement st = c.createStatement()) {
                    st.setFetchSize(4);
                    List<Long> keys = new ArrayList<>();
                    try (ResultSet rs = st.executeQuery("SELECT n_nationkey FROM lake.tpch.nation ORDER BY 1")) {
                        while (rs.next()) {
                            keys.add(rs.getLong(1));
                        }
                    }
                    expect(keys.size(), 25, "rows fetched in batches of 4");
                    expect(keys.get(24), 24L, "last row");
                }
                c.commit();
            }
        });

        check("savepoints and errors keep the connection", () -> {
            try (Connection c = connect("demo")) {
                c.setAutoCommit(false);
                Savepoint sp = c.setSavepoint("before");
                try (Statement st = c.createStatement()) {
                    try {
                        st.executeQuery("SELEC 1");
                        throw new AssertionError("syntax error expected");
                    } catch (SQLException e) {
                        expect(e.getSQLState(), "42601", "syntax error state");
                    }
                    c.rollback(sp);
                    try (ResultSet rs = st.executeQuery("SELECT 1")) {
                        rs.next();
                        expect(rs.getInt(1), 1, "usable after ROLLBACK TO SAVEPOINT");
                    }
                }
                c.commit();
            }
        });

        check("cancel", () -> {
            try (Connection c = connect("demo"); Statement st = c.createStatement()) {
                Thread canceller = new Thread(() -> {
                    try {
                        Thread.sleep(500);
                        st.cancel();
                    } catch (Exception ignored) {
                    }
                });
                canceller.start();
                try {
                    st.executeQuery("SELECT count(*) FROM lake.tpch.lineitem a, lake.tpch.lineitem b "
                        + "WHERE a.l_comment < b.l_comment");
                    throw new AssertionError("cancel expected");
                } catch (SQLException e) {
                    expect(e.getSQLState(), "57014", "cancel state");
                }
                canceller.join();
                try (ResultSet rs = st.executeQuery("SELECT 2")) {
                    rs.next();
                    expect(rs.getInt(1), 2, "usable after cancel");
                }
            }
        });

        check("wrong password", () -> {
            try {
                connect("wrong").close();
                throw new AssertionError("wrong password accepted");
            } catch (SQLException e) {
                expect(e.getSQLState(), "28P01", "authentication state");
            }
        });

        check("DatabaseMetaData: schemas, tables, columns, primary keys", () -> {
            try (Connection c = connect("demo")) {
                java.sql.DatabaseMetaData meta = c.getMetaData();
                List<String> schemas = new ArrayList<>();
                try (ResultSet rs = meta.getSchemas()) {
                    while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
                }
                if (!schemas.contains("tpch")) throw new AssertionError("schemas: " + schemas);
                List<String> tables = new ArrayList<>();
                try (ResultSet rs = meta.getTables(null, "tpch", "%", new String[] {"TABLE"})) {
                    while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
                }
                expect(tables, List.of("customer", "lineitem", "nation", "orders", "part",
                    "partsupp", "region", "supplier"), "getTables");
                List<String> columns = new ArrayList<>();
                try (ResultSet rs = meta.getColumns(null, "tpch", "orders", "%")) {
                    while (rs.next()) {
                        columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME")
                            + ":" + rs.getInt("DATA_TYPE") + ":" + rs.getInt("ORDINAL_POSITION"));
                    }
                }
                expect(columns.size(), 9, "orders columns");
                expect(columns.get(0), "o_orderkey:int8:" + java.sql.Types.BIGINT + ":1", "first column");
                expect(columns.get(3), "o_totalprice:numeric:" + java.sql.Types.NUMERIC + ":4", "fourth column");
                try (ResultSet rs = meta.getPrimaryKeys(null, "tpch", "orders")) {
                    expect(rs.next(), false, "Iceberg tables declare no primary keys");
                }
            }
        });

        check("DatabaseMetaData: keywords, indexes, keys, type info", () -> {
            try (Connection c = connect("demo")) {
                java.sql.DatabaseMetaData meta = c.getMetaData();
                // pg_get_keywords() minus the SQL:2003 words pgjdbc leaves out.
                List<String> keywords = List.of(meta.getSQLKeywords().split(","));
                if (!keywords.contains("analyze") || keywords.contains("select")) {
                    throw new AssertionError("getSQLKeywords: " + keywords);
                }
                try (ResultSet rs = meta.getIndexInfo(null, "tpch", "orders", false, true)) {
                    expect(rs.next(), false, "Iceberg tables have no indexes");
                }
                try (ResultSet rs = meta.getImportedKeys(null, "tpch", "orders")) {
                    expect(rs.next(), false, "no foreign keys");
                }
                List<String> types = new ArrayList<>();
                try (ResultSet rs = meta.getTypeInfo()) {
                    while (rs.next()) types.add(rs.getString("TYPE_NAME"));
                }
                for (String t : List.of("int8", "numeric", "text", "date", "timestamptz")) {
                    if (!types.contains(t)) throw new AssertionError("getTypeInfo lacks " + t + ": " + types);
                }
            }
        });

        System.out.println(failed == 0 ? "all passed" : failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
