"""Text from the data, as a terminal may show it.

Everything the CLI prints that came from a store or from the input (a merchant's appeal, a
quarantined value, a file name, an error naming either) goes through :func:`shown` first:
rich would read ``[/]`` in an appeal statement as a closing tag (and fail with a
MarkupError), and a terminal would obey the escape codes a CSV cell may hold.

Example::

    >>> shown("ops [/] team \\x1b[31mred")
    'ops \\\\[/] team \\\\x1b[31mred'
"""

from __future__ import annotations

from rich.markup import escape

__all__ = ["shown"]


def shown(value: object, *, lines: bool = False) -> str:
    """``value`` as text for rich: markup escaped (``[/]`` is text, not a tag), control
    characters — terminal escape codes, tabs, line breaks — written out (``\\x1b``); None
    is empty. With ``lines``, line breaks are kept (a message of several lines)."""
    text = "" if value is None else str(value)
    if not text.isprintable():
        keep = "\n" if lines else ""
        text = "".join(c if c.isprintable() or c in keep else ascii(c)[1:-1] for c in text)
    return escape(text)
