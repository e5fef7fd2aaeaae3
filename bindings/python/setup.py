"""Build step: bundle libmii.so into the package (mii/lib/libmii.so).

If the repository's .build/release/libmii.so is missing and `swift` is on PATH, it is built first with
`swift build -c release --product mii`. Without a library the package still installs (a warning is
printed) and finds libmii at run time through $MII_LIBRARY or the repository's build folder.
Environment: MII_NO_SWIFT_BUILD=1 skips the swift build; MII_LIBRARY=path bundles that file instead.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent  # bindings/python -> repository root


def _warn(msg: str) -> None:
    print(f"mii setup: {msg}", file=sys.stderr)


def find_or_build_library():
    explicit = os.environ.get("MII_LIBRARY")
    if explicit:
        p = Path(explicit)
        if p.is_file():
            return p
        _warn(f"MII_LIBRARY={explicit} does not exist; ignoring it")
    so = REPO / ".build" / "release" / "libmii.so"
    if so.is_file():
        return so
    if not (REPO / "Package.swift").is_file():
        _warn(f"not inside the libmii repository ({REPO}); no library to bundle")
        return None
    swift = shutil.which("swift")
    if swift and not os.environ.get("MII_NO_SWIFT_BUILD"):
        _warn("building libmii: swift build -c release --product mii")
        r = subprocess.run([swift, "build", "-c", "release", "--product", "mii"], cwd=REPO)
        if r.returncode == 0 and so.is_file():
            return so
        _warn("swift build failed")
    else:
        _warn("swift is not available")
    return None


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        so = find_or_build_library()
        target = Path(self.build_lib) / "mii" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        if so is None:
            _warn("libmii.so is not bundled; set MII_LIBRARY at run time or build the repository")
            return
        # Copy the real file (the build product may be a symlink) under the name the loader expects.
        shutil.copyfile(so.resolve(), target / "libmii.so")
        _warn(f"bundled {so} -> mii/lib/libmii.so")


try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel


class PlatformWheel(bdist_wheel):
    """ctypes only, no CPython extension: any Python 3, but this platform (the bundled .so)."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for this platform, not as pure Python."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel}, distclass=BinaryDistribution)
