"""The locks install on a user's machine, not only on ours.

Every pin of `requirements/lock.txt` (and of the llama-cpp lock on top of it) must resolve from the
package registry alone, with Python 3.11, on Linux x86_64 and aarch64, macOS arm64 and Windows amd64,
to exactly the pins whose markers hold there. uv resolves for a platform other than the one it runs
on (`--python-platform`), from wheels only, so a version that exists only in a local folder of ours,
or has no wheel for a platform, fails here. The registry is needed: without it the test skips.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"
SETUP_FILES = [*sorted(REQUIREMENTS.glob("*.txt")), ROOT / "Makefile", ROOT / "environment.yml", ROOT / "pyproject.toml"]

# uv's target name, and the marker values a Python 3.11 there reports.
PLATFORMS = {
    "linux-x86_64": ("x86_64-manylinux_2_28", {"sys_platform": "linux", "platform_system": "Linux",
                                               "platform_machine": "x86_64", "os_name": "posix"}),
    "linux-aarch64": ("aarch64-manylinux_2_28", {"sys_platform": "linux", "platform_system": "Linux",
                                                 "platform_machine": "aarch64", "os_name": "posix"}),
    "macos-arm64": ("aarch64-apple-darwin", {"sys_platform": "darwin", "platform_system": "Darwin",
                                             "platform_machine": "arm64", "os_name": "posix"}),
    "windows-amd64": ("x86_64-pc-windows-msvc", {"sys_platform": "win32", "platform_system": "Windows",
                                                 "platform_machine": "AMD64", "os_name": "nt"}),
}
PYTHON = "3.11.9"
# The llama-cpp lock's one source-only package: pip builds it with cmake and a C++ compiler.
BUILT_FROM_SOURCE = {"llama-cpp-python"}
UNREACHABLE = ("Failed to fetch", "error sending request", "dns error", "Could not connect", "timed out")


def _pins(lock: Path) -> list[Requirement]:
    """The lock's requirements, one per unindented, non-comment line."""
    lines = [line for line in lock.read_text().splitlines() if line and not line.startswith(("#", " ", "-"))]
    return [Requirement(line) for line in lines]


def _expected(lock: Path, markers: dict[str, str]) -> dict[str, str]:
    """Name -> pinned version of the pins whose markers hold on the platform."""
    environment = {"implementation_name": "cpython", "platform_python_implementation": "CPython",
                   "python_version": PYTHON.rsplit(".", 1)[0], "python_full_version": PYTHON, **markers}
    return {pin.name: str(pin.specifier).removeprefix("==")
            for pin in _pins(lock) if pin.marker is None or pin.marker.evaluate(environment)}


def _torch_cuda_runtime() -> set[str]:
    """The packages the Makefile keeps out of the lock because torch's own metadata pins them (Linux)."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return set(re.search(r"^TORCH_CUDA_RUNTIME := (.*)$", makefile, re.M).group(1).split())


def _resolve(lock: Path, uv_platform: str, *extra: str) -> dict[str, str]:
    """Resolve the lock's pins for another platform from the registry, wheels only."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed: it is in the lock's test extra (make setup installs it)")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "PIP_"))}
    environment["MACOSX_DEPLOYMENT_TARGET"] = "14.0"  # torch's macOS wheels are built for macOS 14
    command = [uv, "pip", "compile", "--no-config", "--quiet", "--no-header", "--no-annotate", str(lock),
               "--python-platform", uv_platform, "--python-version", PYTHON, "--only-binary", ":all:", *extra]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    if result.returncode != 0 and any(sign in result.stderr for sign in UNREACHABLE):
        pytest.skip(f"the package registry is unreachable, so the locks cannot be checked: {result.stderr[:300]}")
    assert result.returncode == 0, f"{lock.name} does not install on {uv_platform}:\n{result.stderr}"
    return dict(line.split("==") for line in result.stdout.splitlines() if "==" in line)


@pytest.mark.parametrize("lock_name", ["lock.txt", "llama-cpp.txt"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_resolves_to_its_own_pins_on_each_platform(lock_name, platform):
    lock = REQUIREMENTS / lock_name
    uv_platform, markers = PLATFORMS[platform]
    sources = [arg for name in BUILT_FROM_SOURCE for arg in ("--no-binary", name)]
    resolved = _resolve(lock, uv_platform, *sources)
    expected = _expected(lock, markers)
    torch_owned = _torch_cuda_runtime() if markers["sys_platform"] == "linux" else set()
    moved = {name: (expected[name], resolved.get(name)) for name in expected if resolved.get(name) != expected[name]}
    unlocked = set(resolved) - set(expected) - torch_owned
    assert not moved, f"pins that resolve to another version (or not at all) on {platform}: {moved}"
    assert not unlocked, f"packages {platform} needs that {lock_name} does not pin: {sorted(unlocked)}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_offline_assets_have_wheels_on_each_platform(platform):
    resolved = _resolve(REQUIREMENTS / "offline-assets.txt", PLATFORMS[platform][0], "--no-deps")
    assert resolved == {pin.name: str(pin.specifier).removeprefix("==")
                        for pin in _pins(REQUIREMENTS / "offline-assets.txt")}


def test_no_local_paths_or_build_labels_in_the_setup_files():
    """Nothing that exists only on our machines: no find-links, no absolute path, no `+cpu`-style label."""
    for path in SETUP_FILES:
        text = path.read_text()
        assert "--find-links" not in text and "file://" not in text, f"{path.name} points at a local folder"
        assert not re.search(r"(^|[\s=])(/opt|/root|/home|/work|/tmp)/", text), f"{path.name} holds an absolute path"
        pinned = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)
        labelled = [f"{name}=={version}" for name, version in pinned if "+" in version]
        assert not labelled, f"{path.name} pins local build labels: {labelled}"


def test_python_floor_is_stated_once_and_checked():
    """requires-python is the one floor; make's check reads it, and the README names it."""
    floor = re.search(r'requires-python = ">=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"Python {floor}" in (ROOT / "README.md").read_text()
    check = subprocess.run([sys.executable, str(REQUIREMENTS / "check_python.py")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "--python-version " + floor in (ROOT / "Makefile").read_text()
