"""Build hook: the wheel carries the repository's top-level ``templates/`` and ``systemd/``.

Everything else about the package is in pyproject.toml.  The templates stay
at the top of the repository, where operators and translators look for
them; a wheel gets a copy as ``gateway/_shipped/templates`` so an installed
gateway finds them next to its code (``gateway.outbound.render.SHIPPED``).
An editable install copies nothing: the code falls back to the checkout's
folder, so an edited template shows at once.  The systemd units go along
(``gateway/_shipped/systemd``) so that a server that only got the wheel
has them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("templates", "systemd")  # top-level folders an installed gateway reads or an operator copies out
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*~", ".*.swp", ".DS_Store")


class BuildPyWithShipped(build_py):
    """``build_py`` plus a copy of each folder in ``SHIPPED`` under ``gateway/_shipped``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for target, source in self._shipped():
            if not source.is_dir():
                raise SystemExit(f"{source}: missing; the wheel must carry it (see setup.py SHIPPED)")
            shutil.rmtree(target, ignore_errors=True)  # a stale build/ must not keep a deleted template
            shutil.copytree(source, target, ignore=_JUNK)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs += [str(path) for target, _ in self._shipped() if target.is_dir()
                        for path in target.rglob("*") if path.is_file()]
        return outputs

    def _shipped(self) -> list[tuple[Path, Path]]:
        return [(Path(self.build_lib) / "gateway" / "_shipped" / name, HERE / name) for name in SHIPPED]


setup(cmdclass={"build_py": BuildPyWithShipped})
