"""The CLI's one helper for text from the data: markup escaped, control characters written
out, everything else (Chinese, emoji, quotes) kept as it is."""

from __future__ import annotations

import pytest
from rich.console import Console

from tiyan.cli.terminal import shown


def rendered(markup: str) -> str:
    console = Console(width=200, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(markup, end="")
    return capture.get()


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("ops [/] team", "ops [/] team"),
        ("[bold]not bold[/bold]", "[bold]not bold[/bold]"),
        ("red \x1b[31mtext", "red \\x1b[31mtext"),
        ("a\rb\tc\nd\x00e\x9bf\u202eg", "a\\rb\\tc\\nd\\x00e\\x9bf\\u202eg"),
        ("买错了尺码 😀 'quoted'", "买错了尺码 😀 'quoted'"),
        (None, ""),
        (12.5, "12.5"),
    ],
)
def test_stored_text_is_printed_as_text(value: object, printed: str) -> None:
    assert rendered(shown(value)) == printed


def test_a_trailing_backslash_does_not_escape_the_markup_after_it() -> None:
    folder = "C:\\shop\\"
    assert rendered(f"[dim]{shown(folder)}[/dim] next") == "C:\\shop\\ next"


def test_a_message_keeps_its_lines_and_nothing_else() -> None:
    assert rendered(shown("invalid policy:\n  x.yaml:3: \x1b[2J", lines=True)) == (
        "invalid policy:\n  x.yaml:3: \\x1b[2J"
    )
