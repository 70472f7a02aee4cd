"""Token (JWT) logins with psycopg over TLS and ADBC Flight SQL (bearer header and
handshake).

Run by the Rust integration test `identity::jwt::python_and_adbc_sign_in_with_tokens`:

    LAKEGATE_TOKEN=… LAKEGATE_EXPIRED_TOKEN=… python jwt_clients.py HOST PG_PORT CA FLIGHT_PORT

Prints one line per check and exits non-zero if any failed.
"""

import os
import sys
import traceback

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import psycopg

HOST, PG_PORT, CA, FLIGHT_PORT = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
TOKEN = os.environ["LAKEGATE_TOKEN"]
EXPIRED = os.environ["LAKEGATE_EXPIRED_TOKEN"]
URI = f"grpc://{HOST}:{FLIGHT_PORT}"
NATIONS = "SELECT count(*) FROM lake.tpch.nation"


def pg(token):
    return psycopg.connect(
        host="localhost",
        hostaddr=HOST,
        port=PG_PORT,
        user="erin",
        password=token,
        dbname="lake",
        sslmode="verify-full",
        sslrootcert=CA,
        connect_timeout=10,
    )


def check_psycopg_signs_in_with_a_token():
    with pg(TOKEN) as conn:
        count = conn.execute(NATIONS).fetchone()[0]
    assert count == 5, count


def check_psycopg_refuses_an_expired_token():
    try:
        pg(EXPIRED).close()
    except psycopg.OperationalError as e:
        assert "expired" in str(e), str(e)
        return
    raise AssertionError("an expired token signed in")


def adbc(db_kwargs):
    return flight_sql.connect(URI, autocommit=True, db_kwargs=db_kwargs)


def nations(conn):
    with conn.cursor() as cursor:
        cursor.execute(NATIONS)
        return cursor.fetchone()[0]


def check_adbc_sends_the_token_as_its_bearer():
    header = "adbc.flight.sql.authorization_header"
    with adbc({header: f"Bearer {TOKEN}"}) as conn:
        assert nations(conn) == 5


def check_adbc_handshakes_with_the_token_as_password():
    options = adbc_driver_manager.DatabaseOptions
    with adbc({options.USERNAME.value: "erin", options.PASSWORD.value: TOKEN}) as conn:
        assert nations(conn) == 5


def check_adbc_refuses_an_expired_token():
    header = "adbc.flight.sql.authorization_header"
    try:
        with adbc({header: f"Bearer {EXPIRED}"}) as conn:
            nations(conn)
    except adbc_driver_manager.Error as e:
        assert "expired" in str(e) and "UNAUTHENTICATED" in str(e).upper(), str(e)
        return
    raise AssertionError("an expired token was served")


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
