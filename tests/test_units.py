"""common/units.parse_duration: the one duration syntax of `audit --since`, `token create --ttl`,
`models register --duration` and the dashboard's audit filter."""
import pytest

from llmesh.common.errors import InvalidArgument
from llmesh.common.units import parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("4500", 4500), ("90s", 90), ("15m", 900), ("2min", 120), ("2 min", 120), ("1.5h", 5400),
    ("7d", 604800), ("4h 32m", 16320), (" 1H ", 3600),
])
def test_durations_parse_with_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "lately", "-5", "1h x", "h"])
def test_a_bad_duration_is_one_line_naming_it(text):
    with pytest.raises(InvalidArgument, match=r"^invalid duration .*expected seconds"):
        parse_duration(text)
