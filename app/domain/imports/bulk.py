"""Many rows into a table at once, as an import writes them.

SQLAlchemy's per-row work (building each row's parameters, converting each value)
cost an import several times what the database takes to store the rows, and it ran
while the import held the write lock. Here the values are converted by each column's
own type, as SQLAlchemy would, and sent in one go: on PostgreSQL through COPY, on
SQLite as one prepared statement for all rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from sqlalchemy import JSON, Connection, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

BATCH = 1_000  # rows per statement: far from SQLite's and psycopg's parameter limits


def batches(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_rows(
    db: Connection, table: Table, rows: list[dict[str, Any]], key: str | None = None
) -> list[tuple[Any, int]]:
    """Insert the rows (each a dict of the same columns, in the same order); with `key`,
    return (key, new id) for each.

    A table with an integer `id` gets its ids drawn first: on PostgreSQL from its
    sequence; on SQLite after the largest, which is how SQLite picks them, and safe
    because the caller's transaction is the database's one writer.
    """
    if not rows:
        return []
    rows = _with_defaults(table, rows)
    names = list(rows[0])
    ids: list[int] | None = None
    if "id" in table.c and "id" not in names:
        ids = _new_ids(db, table, len(rows))
        names = ["id", *names]
    if db.dialect.name == "postgresql":
        _copy(db, table, names, ids, rows)
    else:
        _insert_many(db, table, names, ids, rows)
    if key is None or ids is None:
        return []
    return [(row[key], new_id) for new_id, row in zip(ids, rows, strict=True)]


def insert_new_rows(db: Connection, table: Table, rows: list[dict[str, Any]], key: str) -> None:
    """Insert the rows, leaving alone those whose unique `key` is stored already (another
    transaction stored the same content meanwhile). Slower than `insert_rows`: for the
    rare retry after it met such a row."""
    if not rows:
        return
    dialect_insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
    for batch in batches(rows):
        db.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=[key]), batch)


def _with_defaults(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the Python-side defaults of the columns they leave out (as
    SQLAlchemy's `insert` would fill them), one value for all the rows."""
    missing = {
        column.name: column.default
        for column in table.columns
        if column.name not in rows[0] and column.default is not None and column.name != "id"
    }
    if not missing:
        return rows
    filled: dict[str, Any] = {}
    for name, default in missing.items():
        arg = getattr(default, "arg", None)
        if getattr(default, "is_callable", False):
            filled[name] = arg(None)  # type: ignore[misc]
        elif getattr(default, "is_scalar", False):
            filled[name] = arg
    return [{**row, **filled} for row in rows]


def _new_ids(db: Connection, table: Table, count: int) -> list[int]:
    if db.dialect.name == "postgresql":
        return list(
            db.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": count},
            )
        )
    first = (db.scalar(select(func.max(table.c.id))) or 0) + 1
    return list(range(first, first + count))


def _insert_many(
    db: Connection,
    table: Table,
    names: list[str],
    ids: list[int] | None,
    rows: list[dict[str, Any]],
) -> None:
    offset = 0 if ids is None else 1
    # Only the columns whose type converts values (JSON, dates) are touched per row.
    converted = [
        (offset + i, convert)
        for i, name in enumerate(names[offset:])
        if (convert := _converter(table.c[name], db)) is not None
    ]

    def values(new_id: int | None, row: dict[str, Any]) -> tuple[Any, ...]:
        out = [new_id, *row.values()] if offset else list(row.values())
        for i, convert in converted:
            out[i] = convert(out[i])
        return tuple(out)

    statement = (
        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 (names from the schema)
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    db.exec_driver_sql(
        statement,
        [values(ids[n] if ids else None, row) for n, row in enumerate(rows)],
    )


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
    ids: list[int] | None,
    rows: list[dict[str, Any]],
) -> None:
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    raw = db.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for n, row in enumerate(rows):
                values = [json.dumps(v) if k in json_columns else v for k, v in row.items()]
                copy.write_row([ids[n], *values] if ids else values)
    except psycopg.errors.IntegrityError as exc:
        # Past SQLAlchemy, so raised as it raises the same refusal on SQLite.
        raise IntegrityError(statement, None, exc) from exc
