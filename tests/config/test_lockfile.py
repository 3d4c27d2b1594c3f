"""The lock files pin every package with hashes and name no index."""

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"


@pytest.mark.parametrize("name", ["base.txt", "dev.txt"])
def test_every_requirement_is_pinned_with_a_hash(name):
    text = (REQUIREMENTS / name).read_text()
    assert "--index-url" not in text
    assert "--extra-index-url" not in text
    assert "--find-links" not in text
    assert "://" not in text.replace("# via", "")
    requirements = re.split(r"\n(?=[a-z0-9])", text[text.index("\n") :].strip(), flags=re.I)
    packages = [r for r in requirements if r and not r.startswith("#")]
    assert len(packages) > 10
    for requirement in packages:
        assert re.match(r"^[A-Za-z0-9._-]+==[^\s]+ \\", requirement), requirement
        assert "--hash=sha256:" in requirement, requirement


def test_runtime_lock_is_a_subset_of_the_dev_lock():
    def pins(name):
        return set(
            re.findall(r"^([a-z0-9._-]+==\S+)", (REQUIREMENTS / name).read_text(), re.M | re.I)
        )

    assert pins("base.txt") <= pins("dev.txt")
    assert any(pin.startswith("django==5.2.") for pin in pins("base.txt"))
