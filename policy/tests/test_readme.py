"""The policy pack page's table of rules says what the rules say."""

from __future__ import annotations

from pathlib import Path

from aisb_guard import ABOUT

README = Path(__file__).resolve().parents[2] / "docs" / "policy-pack.md"


def test_the_policy_pack_page_lists_every_rule_as_declared() -> None:
    text = README.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `aisb-")]
    assert len(rows) == len(ABOUT)
    for about, row in zip(ABOUT, rows, strict=True):
        anticipates = (
            f"`{about.anticipates}`" if about.anticipates.endswith("_CHECK") else about.anticipates
        )
        assert row == (
            f"| `{about.id}` | {about.description} | {anticipates} | {about.stricter} | "
            f"{about.cannot_judge} | {about.enforcement.value} |"
        )
    assert "pulumi preview --policy-pack" in text
    assert "--policy-group" in text
    assert '"exemptions"' in text and "aisb-not-judged" in text
