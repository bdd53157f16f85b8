"""Policy files: the default loads, and every mistake names the file, the line and the key."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from tiyan.domain.errors import PolicyError, UnknownNameError, UsageError
from tiyan.metrics.catalog import DEFINITIONS
from tiyan.policy.files import load_policy, parse_policy, policy_in_force, policy_text

DEFAULT = (resources.files("tiyan") / "policies" / "default.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "candidate.yaml")
    assert str(info.value).startswith("invalid policy:")
    assert "candidate.yaml:" in str(info.value)
    return info.value.problems


def test_default_policy_loads_with_the_documented_defaults() -> None:
    policy = load_policy()
    weights = policy.scoring.weights_for("food")
    assert weights == {"product": 50, "logistics": 15, "service": 35}
    assert policy.scoring.min_valid_orders == 30
    assert policy.population.catalog_config().utc_offset_minutes == 480
    scored = {m for dim in policy.scoring.dimensions.values() for m in dim.metrics}
    assert scored == {mid for mid, d in DEFINITIONS.items() if d.scored}


def test_display_and_level_mappings() -> None:
    scoring = load_policy().scoring
    assert scoring.display_of(0) == 3.0
    assert scoring.display_of(100) == 5.0
    assert scoring.display_of(70) == 4.3
    assert scoring.level_of(93) == "excellent"
    assert scoring.level_of(92.99) == "good"
    assert scoring.level_of(85) == "good"
    assert scoring.level_of(84.99) == "fair"
    assert scoring.level_of(59.9) == "critical"
    # the violation caps sit just below a level's bound
    assert scoring.cap_for(0.1, False) == (92.99, "b_in_window")
    assert scoring.cap_for(4.0, True) == (84.99, "b_at_node")
    assert scoring.cap_for(0.0, False) is None
    # A-class points: a third of a node in the window caps at good, the node at fair; the
    # strictest cap that applies wins
    assert scoring.cap_for(0.0, False, 3.9) is None
    assert scoring.cap_for(0.0, False, 4.0) == (92.99, "a_in_window")
    assert scoring.cap_for(0.0, False, 0.5, True) == (84.99, "a_at_node")
    assert scoring.cap_for(0.1, False, 12.0, True) == (84.99, "a_at_node")
    assert scoring.cap_for(4.0, True, 4.0) == (84.99, "b_at_node")


@pytest.mark.parametrize(
    ("old", "new", "needle", "key", "message"),
    [
        (
            "  min_peers: 5",
            "  min_peers: 5\n  colour: red",
            "colour: red",
            "scoring.colour",
            "unknown key",
        ),
        (
            "ship_timeout_rate: 3",
            "ship_timeout: 3",
            "ship_timeout: 3",
            "scoring.dimensions.logistics.metrics.ship_timeout",
            "Did you mean 'ship_timeout_rate'?",
        ),
        (
            "negative_review_rate: 2",
            "negative_review_rate: 2\n        pickup_24h_rate: 1",
            "pickup_24h_rate: 1",
            "scoring.dimensions.product.metrics.pickup_24h_rate",
            "belongs to logistics, not product",
        ),
        (
            "      weight: 15 ",
            "      weight: lots ",
            "weight: lots",
            "scoring.dimensions.logistics.weight",
            "valid number",
        ),
        (
            "ship_timeout_rate: {max: 0.01}",
            "ship_timeout_rate: {min: 0.01}",
            "ship_timeout_rate: {min",
            "scoring.standards[0].when.ship_timeout_rate",
            "lower-is-better",
        ),
        (
            'utc_offset: "+08:00"',
            'utc_offset: "Asia/Shanghai"',
            "utc_offset:",
            "population.utc_offset",
            "+08:00",
        ),
        (
            "    scan_hours: 24 ",
            "    scan_hours: 24\n    scan_minutes: 5 ",
            "scan_minutes: 5",
            "rules.fake_shipment.scan_minutes",
            "unknown key",
        ),
        (
            "    class: B                  # B类 0.1 each",
            "    class: C                  # B类 0.1 each",
            "class: C",
            "rules.fake_shipment.class",
            "'A' or 'B'",
        ),
        (
            "    fake_inventory: {each: 2}",
            "    fake_inventry: {each: 2}",
            "fake_inventry:",
            "consequences.points.fake_inventry.[key]",
            "'fake_inventory'",
        ),
        (
            "{min_paid: 0, rate: 0.3, min: 10, max: 100}",
            "{min_paid: 0, min: 10, max: 100}",
            "{min_paid: 0, min: 10, max: 100}",
            "consequences.compensation.fake_shipment.brackets[0]",
            "either fixed or rate",
        ),
        (
            "  min_valid_orders: 30 ",
            "  min_valid_orders: 30\n  min_valid_orders: 40 ",
            "min_valid_orders: 40",
            "scoring.min_valid_orders",
            "duplicate key",
        ),
    ],
)
def test_a_mistake_names_its_line_and_key(
    old: str, new: str, needle: str, key: str, message: str
) -> None:
    assert old in DEFAULT, old
    text = DEFAULT.replace(old, new, 1)
    found = problems(text)
    assert (line_of(text, needle), key) in [(line, k) for line, k, _ in found], found
    assert any(message in m for _, _, m in found), found


def test_a_missing_section_and_broken_yaml_are_reported() -> None:
    (problem,) = problems("version: x\neffective_from: 2024-01-01\n")
    assert problem[1] == "scoring" and "required" in problem[2].lower()
    (problem,) = problems("version: [unclosed\n")
    assert problem[0] == 2 and "not valid YAML" in problem[2]


def test_a_missing_policy_file(tmp_path: object) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy("nowhere.yaml")


def _version(folder: Path, name: str, version: str, effective: str) -> None:
    text = DEFAULT.replace('version: "2026.12-2"', f'version: "{version}"').replace(
        "effective_from: 1970-01-01", f"effective_from: {effective}"
    )
    (folder / name).write_text(text, encoding="utf-8")


def test_a_folder_of_versions_applies_the_one_in_force(tmp_path: Path) -> None:
    _version(tmp_path, "a.yaml", "v1", "2024-01-01")
    _version(tmp_path, "b.yaml", "v2", "2024-07-01")
    assert load_policy(tmp_path, as_of=date(2024, 6, 30)).version == "v1"
    assert load_policy(tmp_path, as_of=date(2024, 7, 1)).version == "v2"
    assert load_policy(tmp_path).version == "v2"
    with pytest.raises(PolicyError, match="no policy in force on 2023-12-31"):
        load_policy(tmp_path, as_of=date(2023, 12, 31))
    _version(tmp_path, "c.yaml", "v3", "2024-07-01")
    with pytest.raises(PolicyError, match=r"also the effective date of b\.yaml"):
        load_policy(tmp_path, as_of=date(2024, 8, 1))


def test_the_shipped_policy_applies_to_any_date() -> None:
    # history before the policy was written (Olist's 2016-2018 orders) scores with it
    for day in (date(2000, 1, 1), date(2016, 9, 4), date(2018, 10, 18)):
        assert policy_in_force(as_of=day).version == load_policy().version
        assert policy_text(as_of=day).text == DEFAULT
    shipped = policy_text()
    assert shipped.where == "<tiyan>/policies/default.yaml" and shipped.text == DEFAULT
    assert policy_text(version=shipped.policy.version).text == DEFAULT
    with pytest.raises(UnknownNameError, match="unknown policy version"):
        policy_text(version="2019.01-1")


def test_a_policy_of_yours_is_refused_before_its_date_with_the_fix(tmp_path: Path) -> None:
    _version(tmp_path, "late.yaml", "v9", "2030-01-01")
    late = tmp_path / "late.yaml"
    assert load_policy(late, as_of=date(2024, 7, 1)).version == "v9"  # a candidate may be
    with pytest.raises(UsageError, match="takes effect on 2030-01-01, after 2024-07-01: ") as e:
        policy_in_force(late, as_of=date(2024, 7, 1))
    assert "--policy FILE" in str(e.value) and "earlier version" in str(e.value)
    assert policy_in_force(late, as_of=date(2030, 1, 1)).version == "v9"
    # a folder names the version asked for, and the fix when none is in force yet
    assert policy_text(tmp_path, version="v9").where == str(late)
    with pytest.raises(PolicyError, match="no policy in force on 2024-07-01") as e:
        policy_in_force(tmp_path, as_of=date(2024, 7, 1))
    assert "--policy FILE" in str(e.value)


def test_a_bad_version_in_a_folder_is_reported_with_its_file(tmp_path: Path) -> None:
    _version(tmp_path, "a.yaml", "v1", "2024-01-01")
    (tmp_path / "b.yaml").write_text(DEFAULT.replace("  min_peers: 5", "  min_peers: five"))
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path, as_of=date(2024, 6, 30))
    assert "b.yaml" in str(info.value)
