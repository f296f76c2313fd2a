"""SQL the way chapter 02 runs it (``svc.query``): BigQuery's backtick names and wildcard tables
over the date-sharded export, and SQL that must not reach the machine's files (the grader runs a
learner's SQL in its own process)."""

from __future__ import annotations

import datetime as dt

import pytest

import google.cloud.logging_v2 as _gcl

import cloudlog

_gcl._instrumentation_emitted = True  # no diagnostic entry: the tests count their own rows
PROJECT = "ch02-sql"
DAYS = [dt.datetime(2024, 5, d, 12, tzinfo=dt.timezone.utc) for d in (1, 2, 3)]


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """Three days of struct_log exported to structlog.struct_log_YYYYMMDD (2, 3 and 4 rows)."""
    service = cloudlog.start_local(tmp_path_factory.mktemp("sql") / "logs.duckdb")
    client = cloudlog.client(service.endpoint, PROJECT)
    client.sink(
        "export",
        filter_=f'logName="projects/{PROJECT}/logs/struct_log"',
        destination=f"bigquery.googleapis.com/projects/{PROJECT}/datasets/structlog",
    ).create()
    batch = client.logger("struct_log").batch()
    for i, day in enumerate(DAYS):
        for j in range(i + 2):
            payload = {"name": f"n{j}", "text": "ls -a" if j % 2 else "ls", "key": "web"}
            if i == 2:
                payload["extra"] = "only on the third day"  # the days' columns differ
            batch.log_struct(payload, timestamp=day + dt.timedelta(minutes=j))
    batch.commit()
    service.drain()
    yield service
    service.stop()


@pytest.mark.parametrize(
    "table",
    [
        "structlog.struct_log_20240502",
        "`structlog.struct_log_20240502`",
        f"`{PROJECT}.structlog.struct_log_20240502`",
        f"`{PROJECT}`.structlog.struct_log_20240502",
        f"`{PROJECT}`.`structlog`.`struct_log_20240502`",
    ],
)
def test_backtick_names_resolve_like_bigquerys(svc, table):
    sql = f"SELECT COUNT(*), COUNTIF(jsonPayload.text LIKE '%-a%') FROM {table}"
    assert svc.query(sql, project=PROJECT) == [(3, 1)]
    if PROJECT in table:  # fully qualified: no default project needed
        assert svc.query(sql) == [(3, 1)]


def test_backticks_inside_strings_and_comments_are_left_alone(svc):
    sql = "SELECT '`not.a.table`' AS s, COUNT(*) -- `a comment`\nFROM `structlog.struct_log_20240501` /* `another` */"
    assert svc.query(sql, project=PROJECT) == [("`not.a.table`", 2)]


def test_a_wildcard_table_reads_every_day_with_its_table_suffix(svc):
    rows = svc.query(
        "SELECT _TABLE_SUFFIX, COUNT(*) FROM `structlog.struct_log_*` GROUP BY _TABLE_SUFFIX ORDER BY 1",
        project=PROJECT,
    )
    assert rows == [("20240501", 2), ("20240502", 3), ("20240503", 4)]


def test_a_wildcard_table_filtered_on_table_suffix_with_an_alias(svc):
    sql = (
        f"SELECT t.jsonPayload.key, COUNT(*), COUNTIF(t.jsonPayload.text LIKE '%-a%') "
        f"FROM `{PROJECT}.structlog.struct_log_2024*` AS t "
        "WHERE _TABLE_SUFFIX BETWEEN '0502' AND '0503' GROUP BY 1"
    )
    assert svc.query(sql) == [("web", 7, 3)]


def test_a_wildcard_over_days_with_different_columns(svc):
    rows = svc.query(
        "SELECT _TABLE_SUFFIX, jsonPayload.extra FROM `structlog.struct_log_*` "
        "WHERE jsonPayload.name = 'n0' ORDER BY 1",
        project=PROJECT,
    )
    assert rows == [("20240501", None), ("20240502", None), ("20240503", "only on the third day")]


def test_a_wildcard_that_matches_nothing_says_so(svc):
    with pytest.raises(ValueError, match="no table matches structlog.other_"):
        svc.query("SELECT * FROM `structlog.other_*`", project=PROJECT)
    with pytest.raises(ValueError, match="no table matches"):
        svc.query("SELECT * FROM `nodataset.struct_log_*`", project=PROJECT)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/hostname')",
        "SELECT count(*) FROM glob('/etc/*')",
    ],
)
def test_sql_cannot_read_the_machines_files(svc, sql):
    for project in (PROJECT, None):
        with pytest.raises(PermissionError, match="reading or writing files .* is turned off"):
            svc.query(sql, project=project)


def test_sql_cannot_write_files_nor_turn_file_access_back_on(svc, tmp_path):
    target = tmp_path / "stolen.csv"
    with pytest.raises(PermissionError, match="turned off"):
        svc.query(f"COPY (SELECT 1) TO '{target}'")
    with pytest.raises(PermissionError, match="turned off"):
        svc.query(f"ATTACH '{tmp_path / 'other.duckdb'}'")
    assert not target.exists() and not (tmp_path / "other.duckdb").exists()
    with pytest.raises(Exception, match="locked"):
        svc.query("SET enable_external_access = true")
    with pytest.raises(PermissionError):
        svc.query("SELECT * FROM read_text('/etc/passwd')")
    # and the store goes on working: writes, exports and reads
    assert svc.query("SELECT COUNT(*) FROM `structlog.struct_log_20240501`", project=PROJECT) == [(2,)]
