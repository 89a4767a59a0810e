"""docs/BENCHMARKS.md is written by more than one command: `make bench` writes the page, a run
with `--only` and `make soak` each keep a section of their own between markers, which a full
`make bench` carries over."""

from __future__ import annotations

from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
ONLY_HEADING = "## The last run of some scenarios (`--only`)"
SOAK_HEADING = "## The soak (`make soak`)"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section(name: str, empty: str, *, page: Path = REPORT) -> str:
    """What was last written in the section `name` (`empty` when there is none)."""
    start, end = markers(name)
    text = page.read_text() if page.exists() else ""
    if start not in text:
        return empty
    return text.split(start)[1].split(end)[0].strip()


def put_section(name: str, heading: str, body: str, *, before: str | None = None, page: Path = REPORT) -> None:
    """Replace the section `name`; a page without it gets it under `heading`, placed before the
    heading `before` when the page has that one, else at the end."""
    start, end = markers(name)
    text = page.read_text() if page.exists() else "# Benchmarks\n"
    if start in text:
        text = text.split(start)[0] + f"{start}\n{body}\n{end}" + text.split(end)[1]
    else:
        new = f"{heading}\n\n{start}\n{body}\n{end}\n"
        if before is not None and before in text:
            head, tail = text.split(before, 1)
            text = f"{head}{new}\n{before}{tail}"
        else:
            text = f"{text.rstrip()}\n\n{new}"
    page.write_text(text)
