"""Directory (LDAP) logins with psycopg over TLS and ADBC Flight SQL (handshake with
the directory password).

Run by the Rust integration test `identity::ldap::python_and_adbc_sign_in_with_directory_passwords`:

    python ldap_clients.py HOST PG_PORT CA FLIGHT_PORT

Prints one line per check and exits non-zero if any failed.
"""

import sys
import traceback

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import psycopg

HOST, PG_PORT, CA, FLIGHT_PORT = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
URI = f"grpc://{HOST}:{FLIGHT_PORT}"
NATIONS = "SELECT count(*) FROM lake.tpch.nation"


def pg(password):
    return psycopg.connect(
        host="localhost",
        hostaddr=HOST,
        port=PG_PORT,
        user="alice",
        password=password,
        dbname="lake",
        sslmode="verify-full",
        sslrootcert=CA,
        connect_timeout=10,
    )


def check_psycopg_signs_in_with_a_directory_password():
    with pg("wonderland") as conn:
        count = conn.execute(NATIONS).fetchone()[0]
    assert count == 5, count


def check_psycopg_refuses_a_wrong_password():
    try:
        pg("looking-glass").close()
    except psycopg.OperationalError as e:
        assert "LDAP authentication failed" in str(e), str(e)
        return
    raise AssertionError("a wrong password signed in")


def adbc(password):
    options = adbc_driver_manager.DatabaseOptions
    return flight_sql.connect(
        URI,
        autocommit=True,
        db_kwargs={options.USERNAME.value: "alice", options.PASSWORD.value: password},
    )


def check_adbc_handshakes_with_a_directory_password():
    with adbc("wonderland") as conn:
        with conn.cursor() as cursor:
            cursor.execute(NATIONS)
            assert cursor.fetchone()[0] == 5
            # A second statement rides on the bearer token the handshake returned.
            cursor.execute("SELECT r_name FROM lake.tpch.region")
            assert cursor.fetchall() == [("EUROPE",)]


def check_adbc_refuses_a_wrong_password():
    try:
        with adbc("looking-glass") as conn:
            with conn.cursor() as cursor:
                cursor.execute(NATIONS)
    except adbc_driver_manager.Error as e:
        assert "UNAUTHENTICATED" in str(e).upper(), str(e)
        return
    raise AssertionError("a wrong password was served")


CHECKS = [value for name, value in sorted(globals().items()) if name.startswith("check_")]

failed = 0
for check in CHECKS:
    try:
        check()
        print(f"ok   {check.__name__}")
    except Exception:
        failed += 1
        print(f"FAIL {check.__name__}")
        traceback.print_exc()
print(f"{len(CHECKS) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
