"""Mappings: a user's own layout turned into canonical tables by SQL.

A mapping is a small YAML file::

    name: olist
    description: Olist Brazilian e-commerce public data set
    timezone: America/Sao_Paulo      # naive timestamps of these sources are local to this zone
    currency: BRL                    # ISO 4217 code of the amounts (the report prints R$)
    sources:                         # view name -> file name (a glob) in the source directory
      orders: olist_orders_dataset.csv
      items: olist_order_items_dataset.csv
    tables:                          # canonical table -> one DuckDB SQL query over the views
      merchants: |
        SELECT seller_id AS merchant_id, ... FROM sellers
    columns:                         # optional: a values table per column (source -> code)
      orders:
        status: {values: {"已签收": signed, "已取消": cancelled}}

Every source file is exposed as a DuckDB view whose columns are all VARCHAR (so a stray value
never stops the read); the queries cast where they compute and otherwise leave parsing to
validation, which quarantines what does not fit. Each query's result is validated exactly
like a canonical file; its "line" in the quarantine is the row number of the query result.
A column's ``values:`` table turns the source's own values into tiyan's codes before
validation (a value it does not name passes through, for validation to judge).

``timezone`` and ``currency`` describe the platform the data comes from: a load through the
mapping records them in the store (:mod:`tiyan.store.platform`), whose local days, report and
scorecards then follow them.

Mappings shipped with tiyan live in ``tiyan/ingest/mappings/<name>.yaml``; ``--mapping``
takes such a name or a path to a file.
"""

from __future__ import annotations

import glob
import os
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tiyan.domain.errors import SourceError, UnknownNameError
from tiyan.domain.model import TABLES, ColumnType
from tiyan.ingest.lines import header_of

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ColumnSpec(BaseModel):
    """What a mapping says of one canonical column: its ``values:`` table, each source value
    (as text, surrounding spaces ignored) -> tiyan's code, or null for no value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    values: dict[NonEmpty, str | None] = Field(min_length=1)

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, values: Any) -> Any:
        # YAML reads an unquoted 1 as a number and true as a boolean: a status code 1 means the
        # text "1"; a key YAML turned into a boolean (yes, no, on, off) must be quoted.
        if not isinstance(values, dict):
            return values
        out: dict[str, Any] = {}
        for key, code in values.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise ValueError(f"source value {key!r} is not text: quote it")
            if isinstance(code, bool):
                code = "true" if code else "false"
            elif isinstance(code, int | float):
                code = str(code)
            out[str(key)] = code
        return out


class Mapping(BaseModel):
    """A validated mapping file (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    description: str = ""
    timezone: str | None = None
    currency: str | None = None
    sources: dict[NonEmpty, NonEmpty] = Field(min_length=1)
    tables: dict[NonEmpty, NonEmpty] = Field(min_length=1)
    #: table -> column -> what the mapping says of it (its ``values:`` table)
    columns: dict[NonEmpty, dict[NonEmpty, ColumnSpec]] = Field(default_factory=dict)
    path: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {zone!r} (an IANA name like America/Sao_Paulo)"
                ) from None
        return zone

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, code: str | None) -> str | None:
        if code is not None and not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"expected an ISO 4217 currency code like BRL or CNY, not {code!r}")
        return code

    @field_validator("tables")
    @classmethod
    def _canonical_tables(cls, tables: dict[str, str]) -> dict[str, str]:
        for table in tables:
            if table not in TABLES:
                raise ValueError(str(UnknownNameError("canonical table", table, TABLES)))
        return tables

    @field_validator("columns")
    @classmethod
    def _known_columns(
        cls, columns: dict[str, dict[str, ColumnSpec]], info: ValidationInfo
    ) -> dict[str, dict[str, ColumnSpec]]:
        produced = info.data.get("tables") or {}
        for name, specs in columns.items():
            if name not in TABLES:
                raise ValueError(str(UnknownNameError("canonical table", name, TABLES)))
            if produced and name not in produced:
                raise ValueError(f"{name}: the mapping's tables produce no {name}")
            table = TABLES[name]
            for col_name, spec in specs.items():
                if col_name not in table.column_names:
                    raise ValueError(
                        str(UnknownNameError(f"column of {name}", col_name, table.column_names))
                    )
                col = table.column(col_name)
                where = f"{name}.{col_name}.values"
                if col.type not in (ColumnType.STRING, ColumnType.BOOL):
                    raise ValueError(
                        f"{where}: values tables map text and booleans, and {col_name} is a "
                        f"{col.type.value} column"
                    )
                for source, code in spec.values.items():
                    if col.allowed is not None and code is not None and code not in col.allowed:
                        raise ValueError(
                            f"{where}[{source!r}]: {code!r} is not one of {col_name}'s codes: "
                            + ", ".join(col.allowed)
                        )
        return columns

    def values_tables(self) -> dict[str, dict[str, dict[str, str | None]]]:
        """Each column's ``values:`` table, by table and column."""
        return {
            table: {col: dict(spec.values) for col, spec in specs.items()}
            for table, specs in self.columns.items()
        }


def shipped_mappings() -> list[str]:
    """Names of the mappings that ship with tiyan."""
    folder = resources.files("tiyan.ingest") / "mappings"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def is_mapping_path(value: str | Path) -> bool:
    """Whether ``value`` names a mapping file rather than a shipped mapping (docs/mappings.md):
    a :class:`~pathlib.Path`, or text holding a path separator or ending in ``.yaml`` /
    ``.yml``. Any other text is a shipped mapping's name, never looked up on disk (a folder
    ``olist/`` beside you holding the data does not shadow the ``olist`` mapping)."""
    if isinstance(value, Path):
        return True
    separators = [s for s in ("/", os.sep, os.altsep) if s]
    return any(s in value for s in separators) or value.lower().endswith((".yaml", ".yml"))


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load a shipped mapping by name, or a mapping file by path, and validate it."""
    path = Path(name_or_path)
    if is_mapping_path(name_or_path):
        if not path.is_file():
            raise SourceError("mapping file not found", path=str(path))
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        names = shipped_mappings()
        if str(name_or_path) not in names:
            raise UnknownNameError("mapping", str(name_or_path), names)
        res = resources.files("tiyan.ingest") / "mappings" / f"{name_or_path}.yaml"
        text = res.read_text(encoding="utf-8")
        where = f"<tiyan>/ingest/mappings/{name_or_path}.yaml"
    return parse_mapping(text, where)


def parse_mapping(text: str, where: str) -> Mapping:
    """Validate mapping YAML; an error names the file and the key that is wrong."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML: {exc}", path=where) from None
    if not isinstance(raw, dict):
        raise SourceError("a mapping must be a YAML mapping with sources and tables", path=where)
    raw.setdefault("name", Path(where).stem)
    try:
        return Mapping.model_validate({**raw, "path": where})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise SourceError(f"invalid mapping: {problems}", path=where) from None


def source_files(mapping: Mapping, folder: Path) -> dict[str, list[Path]]:
    """The files each source view reads, or an error naming the missing one."""
    found: dict[str, list[Path]] = {}
    for view, pattern in mapping.sources.items():
        matches = sorted(Path(p) for p in glob.glob(str(folder / pattern)))
        if not matches:
            raise SourceError(
                f"mapping {mapping.name!r} needs source {view!r} ({pattern}) but no such file",
                path=str(folder),
            )
        found[view] = matches
    return found


def _same_headers(files: list[Path]) -> None:
    """Every file of a glob has the first one's header (they make one view)."""
    delim = "\t" if ".tsv" in files[0].name.lower() else ","
    names = header_of(files[0], delim)
    for other in files[1:]:
        if header_of(other, delim) != names:
            raise SourceError(f"its header differs from {files[0].name}'s", path=str(other))


def create_source_views(
    con: Any,
    mapping: Mapping,
    folder: Path,
    *,
    malformed: dict[str, list[tuple[Path, str]]] | None = None,
) -> dict[str, list[Path]]:
    """Expose each source of ``mapping`` in ``folder`` as an all-VARCHAR view on ``con``.

    ``con`` is a DuckDB connection (the staging connection of a load). Returns the files
    each view reads. A CSV source is read as a file of its own is (tiyan's dialect, every
    physical line accounted for): a line that does not parse is left out of the view and
    named, with its file, in ``malformed`` (view -> (file, staging relation of its lines:
    ``__source``, ``__line``, ``code``, ``message``, ``raw_text``)) for the load to
    quarantine; one bad line never stops the load.
    """
    from tiyan.ingest.sources import Source, read_source

    found = source_files(mapping, folder)
    for v, (view, files) in enumerate(sorted(found.items())):
        paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
        suffix = files[0].name.lower()
        if ".parquet" in suffix:
            reader = f"read_parquet([{paths}])"
        elif ".jsonl" in suffix or ".ndjson" in suffix:
            reader = f"read_json([{paths}], format='newline_delimited')"
        else:
            _same_headers(files)  # each file read as a file is: a cut gzip is refused
            parts = []
            for i, file in enumerate(files):
                raw, bad = f"__msrc_{v}_{i}", f"__mmal_{v}_{i}"
                read_source(con, Source(table=view, name=str(file), format="csv", path=file),
                            raw, bad)  # fmt: skip
                parts.append(f"SELECT * EXCLUDE (__source, __line) FROM {raw}")
                if malformed is not None:
                    malformed.setdefault(view, []).append((file, bad))
            reader = "(" + " UNION ALL BY NAME ".join(parts) + ")"
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT * FROM {reader}')
    return found
