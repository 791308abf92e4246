"""The words of the templates in the newsletter's language: gettext catalogs made with Babel.

The catalogs live in ``digest/render/locale/LANG/LC_MESSAGES/digest.po``, with the compiled
``.mo`` beside each (committed, so that a checkout, an editable install and a wheel all carry
them without a build step; ``tests/test_i18n.py`` fails when a ``.mo`` or the ``.pot`` is out
of date). A language without a catalog, or a string a catalog lacks, reads in English.

To change or add a language (see the README's "Translations")::

    pybabel extract -F digest/render/locale/babel.cfg --no-location --sort-output \
        -o digest/render/locale/digest.pot .
    pybabel update -i digest/render/locale/digest.pot -d digest/render/locale -D digest
    pybabel compile -d digest/render/locale -D digest
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "digest"
SHIPPED = ("en", "de", "fr", "es", "pt")


def N_(message: str) -> str:
    """Mark a string for the catalogs without translating it here."""
    return message


# The config's default wording, which a reader sees as part of the email: translated when the
# newsletter keeps the default (a text the user wrote is not in the catalog and stays as is).
DEFAULT_TEXTS = (
    N_("Daily Digest"),
    N_("The most important stories of the day, summarized."),
    N_("You receive this email because you signed up for daily updates."),
    N_("News"),
)


@lru_cache(maxsize=32)
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for ``language`` ('de', 'pt-BR' falls back to 'pt'); English when none."""
    code = (language or "en").replace("-", "_")
    languages = [code, code.split("_")[0]]
    return Translations.load(str(LOCALE_DIR), languages, DOMAIN)
