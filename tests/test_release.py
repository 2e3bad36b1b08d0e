"""One version for every package, its changelog section, and the release workflow that checks
both on a tag before it builds and publishes."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from aisb_tools import release
from tests.harness import ROOT


def _copy(tmp_path: Path) -> Path:
    for name in [*release.PROJECTS, release.POLICY_PACK, release.CHANGELOG]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_every_package_carries_the_library_s_version() -> None:
    found = release.versions()
    assert set(found.values()) == {found["pyproject.toml"]}
    assert release.problems() == []


def test_a_tag_is_released_only_with_its_changelog_dated(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    version = release.versions(root)["pyproject.toml"]
    problems = release.problems(f"v{version}", root)
    assert problems == [f"CHANGELOG.md: [{version}] is dated 'unreleased': give the release date"]
    changelog = root / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            f"## [{version}] - unreleased", f"## [{version}] - 2026-12-24"
        )
    )
    assert release.problems(f"v{version}", root) == []
    assert release.problems("v9.9.9", root) == [
        f"tag v9.9.9: the packages are at {version} (tag v{version})"
    ]


def test_a_package_left_behind_is_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    pack = root / release.POLICY_PACK
    pack.write_text(pack.read_text().replace("version: 0.2.0", "version: 0.1.9"))
    provider = root / "provider" / "pyproject.toml"
    provider.write_text(provider.read_text().replace('version = "0.2.0"', 'version = "0.3.0"'))
    assert release.problems(None, root) == [
        "provider/pyproject.toml: version 0.3.0, not the library's 0.2.0",
        "policy/PulumiPolicy.yaml: version 0.1.9, not the library's 0.2.0",
    ]


def test_the_notes_are_the_version_s_section(capsys: object) -> None:
    version = release.versions()["pyproject.toml"]
    date, text = release.section(version) or ("", "")
    assert date and text.startswith("### ")
    assert "## [" not in text


def test_the_release_workflow_checks_then_builds_then_publishes_by_trusted_publishing() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]  # YAML 1.1: `on` is True
    build, pypi, github = (workflow["jobs"][j] for j in ("build", "pypi", "github-release"))
    runs = [step.get("run", "") for step in build["steps"]]
    assert (
        runs.index('uv run --locked --group dev python -m aisb_tools.release check "$TAG"')
        < (runs.index("bash .ci/run"))
        < runs.index("uv build --out-dir dist")
    )
    # Only the publishing job may mint an OIDC token, in its own environment; no stored token.
    assert pypi["permissions"] == {"id-token": "write"} and pypi["environment"] == "pypi"
    assert any("uv publish --trusted-publishing always" in s.get("run", "") for s in pypi["steps"])
    assert build["permissions"] == {"contents": "read"}
    assert github["permissions"] == {"contents": "write"} and github["needs"] == "pypi"
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "secrets." not in text
