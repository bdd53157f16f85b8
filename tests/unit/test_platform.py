"""The platform a store holds: a mapping's time zone and currency, the fixed offset its days
are counted at, and how its money is written."""

from __future__ import annotations

import pytest

from tiyan.domain.errors import SourceError
from tiyan.ingest.mapping import load_mapping, parse_mapping
from tiyan.policy.files import load_policy
from tiyan.store.platform import Platform, platform_rows

MINIMAL = "sources: {a: a.csv}\ntables: {orders: SELECT 1}\n"


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("America/Sao_Paulo", "-03:00"),  # no summer time since 2019
        ("Asia/Shanghai", "+08:00"),
        ("Europe/Berlin", "+01:00"),  # standard time, not summer time
        ("Australia/Sydney", "+10:00"),  # summer time falls in January there
        ("Asia/Kolkata", "+05:30"),
        ("America/St_Johns", "-03:30"),
        ("UTC", "+00:00"),
    ],
)
def test_days_are_counted_at_the_zones_standard_offset(zone: str, offset: str) -> None:
    assert Platform(zone).utc_offset == offset


def test_a_store_without_a_zone_keeps_the_policys_offset() -> None:
    policy = load_policy()
    assert Platform().utc_offset is None
    assert Platform().policy(policy) is policy
    assert Platform("Asia/Shanghai").policy(policy) is policy  # the same offset already
    brazil = Platform("America/Sao_Paulo", "BRL").policy(policy)
    assert brazil.population.utc_offset == "-03:00"
    assert brazil.population.catalog_config().utc_offset_minutes == -180
    assert brazil.population.min_amount == policy.population.min_amount
    assert brazil.version == policy.version
    assert policy.population.utc_offset == "+08:00"  # the policy itself is left alone


def test_money_is_written_in_the_platforms_currency() -> None:
    assert Platform().money(9) == "¥9.00"
    assert Platform("America/Sao_Paulo", "BRL").money("1234.5") == "R$1,234.50"
    assert Platform(currency="CHF").money(3) == "CHF 3.00"
    assert Platform(currency="BRL").money(None) == "—"


def test_a_load_records_only_what_the_mapping_names() -> None:
    assert platform_rows(None, None) == []
    assert platform_rows("America/Sao_Paulo", "BRL") == [
        ("platform.timezone", "America/Sao_Paulo"),
        ("platform.currency", "BRL"),
    ]


def test_the_olist_mapping_names_sao_paulo_and_reais() -> None:
    olist = load_mapping("olist")
    assert (olist.timezone, olist.currency) == ("America/Sao_Paulo", "BRL")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("timezone: America/Sao_Polo", "unknown time zone 'America/Sao_Polo'"),
        ("currency: reais", "ISO 4217 currency code"),
        ("currency: brl", "ISO 4217 currency code"),
    ],
)
def test_a_mappings_zone_and_currency_are_checked(line: str, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        parse_mapping(MINIMAL + line, "my_shop.yaml")
