"""Where the files that ship with digest live: in a checkout, or inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The folder ``name`` ('templates' or 'config') of the installed copy or of the checkout.

    A wheel carries them as digest/_bundled/NAME (see pyproject.toml); an editable
    install or a plain checkout finds them beside the package.
    """
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
