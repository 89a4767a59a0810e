"""docs/BENCHMARKS.md is written by three commands (`make bench`, a run with `--only`, `make
soak`): each writes its own section and leaves the others' figures where they were."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from page import SOAK_HEADING, markers, put_section, section


def test_a_section_is_placed_once_replaced_on_the_next_run_and_leaves_the_rest_alone(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    start, end = markers("soak")
    page.write_text(f"# Benchmarks\n\n| full run |\n\n{SOAK_HEADING}\n\n{start}\nsoak table\n{end}\n")

    put_section("only", "## Some scenarios", "reads at 1M: first", before=SOAK_HEADING, page=page)
    put_section("only", "## Some scenarios", "reads at 1M: second", before=SOAK_HEADING, page=page)

    text = page.read_text()
    assert text.count("## Some scenarios") == 1
    assert "first" not in text
    assert section("only", "none", page=page) == "reads at 1M: second"
    assert section("soak", "none", page=page) == "soak table"
    assert text.index("| full run |") < text.index("## Some scenarios") < text.index(SOAK_HEADING)


def test_a_page_without_the_heading_to_precede_gets_the_section_at_its_end(tmp_path):
    page = tmp_path / "BENCHMARKS.md"
    page.write_text("# Benchmarks\n\n| full run |\n")
    put_section("soak", SOAK_HEADING, "soak table", page=page)
    assert page.read_text().endswith(f"{SOAK_HEADING}\n\n{markers('soak')[0]}\nsoak table\n{markers('soak')[1]}\n")
    assert section("only", "Not run yet.", page=page) == "Not run yet."
