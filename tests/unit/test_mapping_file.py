"""Mapping files are validated on load, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiyan.domain.errors import SourceError, UnknownNameError
from tiyan.ingest.mapping import load_mapping, parse_mapping, shipped_mappings

GOOD = """
name: shop
sources:
  o: export_orders.csv
tables:
  orders: SELECT * FROM o
"""


def test_a_valid_mapping_loads() -> None:
    m = parse_mapping(GOOD, "shop.yaml")
    assert (m.name, m.sources, m.tables) == (
        "shop",
        {"o": "export_orders.csv"},
        {"orders": "SELECT * FROM o"},
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "colour: blue\n", "colour: Extra inputs are not permitted"),
        (GOOD.replace("orders: SELECT", "order: SELECT"), "Did you mean 'orders'"),
        (GOOD.replace("o: export_orders.csv", "o: ''"), "sources.o"),
        ("sources: {}\ntables: {orders: x}\n", "sources: Dictionary should have at least 1"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("tables: [unclosed\n", "not valid YAML"),
    ],
    ids=["unknown_key", "unknown_table", "empty_source", "no_sources", "not_a_mapping", "bad_yaml"],
)
def test_bad_mappings_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        parse_mapping(text, "shop.yaml")
    assert "shop.yaml" in str(info.value)


def test_shipped_and_unknown_mappings(tmp_path: Path) -> None:
    assert "olist" in shipped_mappings()
    assert load_mapping("olist").timezone == "America/Sao_Paulo"
    with pytest.raises(UnknownNameError, match="Did you mean 'olist'"):
        load_mapping("olst")
    with pytest.raises(SourceError, match="not found"):
        load_mapping(tmp_path / "missing.yaml")
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD)
    assert load_mapping(path).name == "shop"


def test_a_name_is_never_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder called ``olist`` where you stand does not shadow the shipped mapping; a value
    with a separator or a YAML suffix is a file."""
    (tmp_path / "olist").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_mapping("olist").timezone == "America/Sao_Paulo"
    with pytest.raises(SourceError, match="not found"):
        load_mapping("./olist")
