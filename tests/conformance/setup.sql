-- The table the conformance queries read, created the same way in the test PostgreSQL
-- server and in lakegate (as an Iceberg table). Lines starting with "pg:" run only on
-- PostgreSQL.
pg: CREATE SCHEMA tpch
CREATE TABLE tpch.t (id int NOT NULL, i bigint, n numeric(12,2), f double precision, s text, d date, ts timestamp, b boolean)
INSERT INTO tpch.t VALUES (1, 10, 12.50, 1.5, 'alpha', DATE '2024-01-31', TIMESTAMP '2024-01-31 10:15:30', true)
INSERT INTO tpch.t VALUES (2, -7, -3.25, -0.25, 'Beta', DATE '1999-12-31', TIMESTAMP '1999-12-31 23:59:59', false)
INSERT INTO tpch.t VALUES (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
INSERT INTO tpch.t VALUES (4, 9000000000000000000, 0.01, 1e10, 'gamma delta', DATE '2000-02-29', TIMESTAMP '2000-02-29 00:00:00', true)
INSERT INTO tpch.t VALUES (5, 0, 0.00, 0, '', DATE '2024-03-15', TIMESTAMP '2024-03-15 12:00:00', false)
INSERT INTO tpch.t VALUES (6, 123456789, 99999.99, -2.5e-3, 'Zeta  ', DATE '1970-01-01', TIMESTAMP '1970-01-01 00:00:01.5', NULL)
