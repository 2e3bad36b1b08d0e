"""``aisb.testing``: the library page's example test, copied into a consumer's project, passes; and
it would fail if a component's lookups were not answered."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example() -> str:
    text = (ROOT / "docs" / "library.md").read_text()
    block = re.search(
        r"<!-- testing-example:start -->\n```python\n(.*?)```\n<!-- testing-example:end -->",
        text,
        re.S,
    )
    assert block, "docs/library.md lost its testing example"
    return block.group(1)


def _pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_consumer.py").write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_library_page_example_passes_in_a_consumer_project(tmp_path: Path) -> None:
    result = _pytest(tmp_path, _example())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_the_example_fails_when_the_key_is_not_the_asserted_service(tmp_path: Path) -> None:
    # The example's assertion can fail: pointed at another service, it does.
    source = _example().replace('assert_arn(arn, "kms")', 'assert_arn(arn, "sns")')
    result = _pytest(tmp_path, source)
    assert result.returncode == 1
    assert "expected an ARN of sns" in result.stdout


def test_mocks_answer_each_lookup_the_components_make() -> None:
    from aisb import testing

    mocks = testing.Mocks(region="cn-north-1")
    for token in (
        "aws:index/getCallerIdentity:getCallerIdentity",
        "aws:index/getRegion:getRegion",
        "aws:index/getPartition:getPartition",
        "aws:iot/getEndpoint:getEndpoint",
    ):
        assert mocks._answer(token, "cn-north-1")
    assert mocks._answer("aws:index/getPartition:getPartition", "cn-north-1")["partition"] == (
        "aws-cn"
    )


def test_assert_arn_refuses_what_is_not_an_arn_of_the_service() -> None:
    from aisb.testing import assert_arn

    assert_arn("arn:aws:kms:us-east-1:123456789012:key/k", "kms")
    for value in (None, "", "kms", "arn:aws:sns:us-east-1:123456789012:t"):
        with pytest.raises(AssertionError):
            assert_arn(value, "kms")
