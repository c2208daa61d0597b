"""Many rows into a table at once, as an import writes them.

SQLAlchemy's per-row work (building each row's parameters, converting each value)
cost an import several times what the database takes to store the rows, and it ran
while the import held the write lock. Here the values are converted by each column's
own type, as SQLAlchemy would, and sent in one go: on PostgreSQL through COPY, on
SQLite as one prepared statement for all rows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice, repeat
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    String,
    Table,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute

BATCH = 1_000  # rows per statement: far from SQLite's and psycopg's parameter limits


def batches(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def among(
    db: Connection, column: ColumnElement[Any] | QueryableAttribute[Any], values: list[Any]
) -> ColumnElement[bool]:
    """`column IN values` with the values as one parameter, for thousands of them: on
    PostgreSQL an array (`= ANY`), on SQLite a JSON array read by `json_each`. An
    `IN (...)` of 500 parameters a query took 70 ms to look up 10,000 ids on
    PostgreSQL, most of it building and parsing the statements; one array, 10 ms."""
    if db.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    each = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(each.c.value))


def insert_rows(
    db: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]],
    key: str | None = None,
    *,
    count: int | None = None,
) -> Iterator[tuple[Any, int]]:
    """Insert the rows (each a dict of the same columns, in the same order); with `key`,
    return (key, new id) for each, one at a time. `rows` may be a generator, built as
    it is written (then give its `count`): on PostgreSQL they go in as one COPY, on
    SQLite a batch at a time, so neither holds every row's values at once.

    A table with an integer `id` gets its ids drawn first: on PostgreSQL from its
    sequence; on SQLite after the largest, which is how SQLite picks them, and safe
    because the caller's transaction is the database's one writer.
    """
    if count is None:
        rows = list(rows)
        count = len(rows)
    filled = _filled(table, rows)
    if filled is None or count == 0:
        return iter(())
    names, values = filled
    ids: Sequence[int] | None = None
    if "id" in table.c and "id" not in names:
        ids = _new_ids(db, table, count)
    keys: list[Any] = []
    if key is not None and ids is not None:
        values = _noting(values, key, keys)
    if db.dialect.name == "postgresql":
        _copy(db, table, names, ids, values)
    else:
        _insert_many(db, table, names, ids, values)
    if key is None or ids is None:
        return iter(())
    # Given one at a time: 100,000 pairs at once were 6 MiB more at the import's peak.
    return zip(keys, ids, strict=True)


def _noting(rows: Iterator[dict[str, Any]], key: str, keys: list[Any]) -> Iterator[dict[str, Any]]:
    for row in rows:
        keys.append(row[key])
        yield row


def insert_new_rows(db: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Insert the rows, leaving alone those whose unique `key` is stored already (another
    transaction stored the same content meanwhile). Slower than `insert_rows`: for the
    rare retry after it met such a row."""
    if not rows:
        return
    dialect_insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
    for batch in batches(rows):
        db.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=[key]), batch)


def _filled(
    table: Table, rows: Iterable[dict[str, Any]]
) -> tuple[list[str], Iterator[dict[str, Any]]] | None:
    """The rows' column names and the rows, each with the defaults of the columns the
    rows leave out; None for no rows."""
    stream = iter(rows)
    first = next(stream, None)
    if first is None:
        return None
    filled = _defaults(table, first)
    values: Iterator[dict[str, Any]] = chain([first], stream)
    if filled:
        values = ({**row, **filled} for row in values)
    return [*first, *filled], values


def _defaults(table: Table, first: dict[str, Any]) -> dict[str, Any]:
    """The Python-side defaults of the columns the rows leave out (as SQLAlchemy's
    `insert` would fill them), one value for all the rows."""
    missing = {
        column.name: column.default
        for column in table.columns
        if column.name not in first and column.default is not None and column.name != "id"
    }
    filled: dict[str, Any] = {}
    for name, default in missing.items():
        arg = getattr(default, "arg", None)
        if getattr(default, "is_callable", False):
            filled[name] = arg(None)  # type: ignore[misc]
        elif getattr(default, "is_scalar", False):
            filled[name] = arg
    return filled


def _new_ids(db: Connection, table: Table, count: int) -> Sequence[int]:
    if db.dialect.name == "postgresql":
        # The sequence is looked up once, not for each id drawn (that was 25 ms of
        # drawing 10,000).
        return list(
            db.scalars(
                text(
                    "SELECT nextval(s.seq) FROM (SELECT CAST(pg_get_serial_sequence(:table, "
                    "'id') AS regclass) AS seq OFFSET 0) AS s, generate_series(1, :n)"
                ),
                {"table": table.name, "n": count},
            )
        )
    first = (db.scalar(select(func.max(table.c.id))) or 0) + 1
    return range(first, first + count)


def _insert_many(
    db: Connection,
    table: Table,
    names: list[str],
    ids: Sequence[int] | None,
    rows: Iterator[dict[str, Any]],
) -> None:
    columns = names if ids is None else ["id", *names]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 (names from the schema)
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    numbered = None if ids is None else iter(ids)
    for batch in _converted(db, table, names, rows, numbered):
        db.exec_driver_sql(statement, batch)


def _converted(
    db: Connection,
    table: Table,
    names: list[str],
    rows: Iterator[dict[str, Any]],
    numbers: Iterator[int] | None,
    extra: Sequence[str] = (),
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows' values as the driver takes them, a batch at a time, each led by its
    number when `numbers` are given (as many as rows). Only the columns whose type
    converts values (JSON, dates) are touched per row; the `extra` ones are no column."""
    offset = 0 if numbers is None else 1
    converted = [
        (offset + i, convert)
        for i, name in enumerate(names)
        if name not in extra and (convert := _converter(table.c[name], db)) is not None
    ]

    def values(number: int, row: dict[str, Any]) -> tuple[Any, ...]:
        out = [number, *row.values()] if offset else list(row.values())
        for i, convert in converted:
            out[i] = convert(out[i])
        return tuple(out)

    pairs = zip(rows, numbers, strict=True) if numbers is not None else zip(rows, repeat(0))
    while batch := [values(number, row) for row, number in islice(pairs, BATCH)]:
        yield batch


def _with_ids(
    rows: Iterator[dict[str, Any]], ids: Sequence[int] | None
) -> Iterator[tuple[dict[str, Any], int]]:
    """Each row with its new id (0 where the table draws none); as many ids as rows."""
    if ids is None:
        return zip(rows, repeat(0), strict=False)
    return zip(rows, ids, strict=True)


def _converter(column: Any, db: Connection) -> Callable[[Any], Any] | None:
    """The column's value as SQLAlchemy would hand it to the driver, or None when it
    hands it as is. A value repeated from the row before (the import's timestamp, a
    None) is converted once."""
    process = column.type.dialect_impl(db.dialect).bind_processor(db.dialect)
    if process is None:
        return None
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return convert


def _copy(
    db: Connection,
    table: Table,
    names: list[str],
    ids: Sequence[int] | None,
    rows: Iterator[dict[str, Any]],
) -> None:
    """One COPY for all the rows: the server stores each part as it arrives while the
    next is built (a COPY a batch waited for the server at each batch's end; 10,000
    rows each of samples and predictions: 0.42 s, one COPY each: 0.28 s)."""
    offset = 0 if ids is None else 1
    json_at = [offset + i for i, name in enumerate(names) if isinstance(table.c[name].type, JSON)]
    raw = db.connection.driver_connection
    assert raw is not None
    columns = ["id", *names] if offset else names
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    dumps = json.dumps
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row, new_id in _with_ids(rows, ids):
                values = [new_id, *row.values()] if offset else list(row.values())
                for i in json_at:
                    value = values[i]
                    # JSON's null as SQLAlchemy stores a None (most rows' probs or
                    # record), without the encoder's microsecond.
                    values[i] = "null" if value is None else dumps(value)
                copy.write_row(values)
    except psycopg.errors.IntegrityError as exc:
        # Past SQLAlchemy, so raised as it raises the same refusal on SQLite.
        raise IntegrityError(statement, None, exc) from exc


# --- SQLite: rows staged before the write ----------------------------------------------
#
# SQLite has one writer at a time, and every save waits while an import writes. Building
# and binding 10,000 rows a table in Python was two thirds of a 10,000-image import's
# write (160 ms); a TEMP table is private to its connection and written without the
# database's write lock, so the rows go there first, converted as `_insert_many` would,
# and the write moves them into place in one INSERT ... SELECT a table (15 ms each).


@dataclass(frozen=True)
class Staged:
    """Rows waiting in a TEMP table of one connection (`stage`), in their order."""

    table: Table
    temp: str
    columns: list[str]
    count: int


def stage(
    connection: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]],
    *,
    count: int,
    extra: Sequence[str] = (),
) -> Staged:
    """Write the rows (dicts of the same keys: `table`'s columns and the `extra` ones
    that `insert_staged` reads) into a TEMP table of `connection`, outside any write
    transaction of the database (inside the caller's, if it has one)."""
    raw = connection.connection.driver_connection
    assert raw is not None
    # A name of its own: two imports may stage on one connection (a test's, with one
    # import inside another).
    temp = f"staged_{table.name}_{secrets.token_hex(4)}"
    filled = _filled(table, rows)
    if filled is None or count == 0:
        return Staged(table=table, temp=temp, columns=[], count=0)
    names, values = filled
    own = not raw.in_transaction
    raw.execute(f"CREATE TEMP TABLE {temp} (ord INTEGER PRIMARY KEY, {', '.join(names)})")
    statement = (
        f"INSERT INTO temp.{temp} (ord, {', '.join(names)}) "  # noqa: S608 (names from the schema)
        f"VALUES ({', '.join('?' for _ in range(len(names) + 1))})"
    )
    if own:
        raw.execute("BEGIN")
    try:
        for batch in _converted(connection, table, names, values, iter(range(count)), extra):
            raw.executemany(statement, batch)
        if own:
            raw.execute("COMMIT")
    except BaseException:
        if own:
            raw.execute("ROLLBACK")
        raw.execute(f"DROP TABLE IF EXISTS temp.{temp}")
        raise
    return Staged(table=table, temp=temp, columns=names, count=count)


def insert_staged(
    db: Connection,
    staged: Staged,
    *,
    constants: Mapping[str, Any] | None = None,
    computed: Mapping[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> range:
    """Move staged rows into their table in the caller's write transaction, on the
    connection that staged them; return their new ids (in the rows' order).

    `constants` give columns one value for every row (known only now: a new run's id);
    `computed` gives columns an SQL expression over the staged columns and the
    `parameters` (a new sample's id from its place among the staged samples)."""
    table, constants, computed = staged.table, constants or {}, computed or {}
    if staged.count == 0:
        return range(0)
    ids = _new_ids(db, table, staged.count)
    assert isinstance(ids, range)  # SQLite's: after the largest
    copied = [
        name
        for name in staged.columns
        if name in table.c and name not in constants and name not in computed
    ]
    given = {f"c_{name}": _bound(table, name, value, db) for name, value in constants.items()}
    columns = ["id", *copied, *constants, *computed]
    values = [
        ":first_id + ord",
        *copied,
        *(f":c_{name}" for name in constants),
        *computed.values(),
    ]
    db.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 (names from the schema)
        f"SELECT {', '.join(values)} FROM temp.{staged.temp} ORDER BY ord",
        {"first_id": ids.start, **given, **(parameters or {})},
    )
    return ids


def drop_staged(connection: Connection, staged: Iterable[Staged]) -> None:
    raw = connection.connection.driver_connection
    assert raw is not None
    for one in staged:
        raw.execute(f"DROP TABLE IF EXISTS temp.{one.temp}")


def _bound(table: Table, name: str, value: Any, db: Connection) -> Any:
    convert = _converter(table.c[name], db)
    return value if convert is None else convert(value)
