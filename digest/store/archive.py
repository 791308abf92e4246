"""The archive: each edition's files kept in the store, and a list of editions without them.

The files live in the database (``edition_files``), so `digest serve` on any machine that
shares it serves every edition; a copy goes to DATA_DIR/editions/KEY/ for reading here.
An edition archived before the store kept files is read from that folder.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from digest.models import DEFAULT_SERIES
from digest.store.engine import Database
from digest.store.rows import EditionEntry, from_iso


class ArchiveTables:
    """Edition files and the edition list: a part of :class:`digest.store.Store`."""

    db: Database
    data_dir: Path

    def write_archive(self, key: str, files: dict[str, str | bytes]) -> dict[str, Path]:
        """Keep an edition's files (replacing its earlier ones) and a local copy; return the copies."""
        contents = {name: _bytes(content) for name, content in files.items()}
        with self.db:
            self.db.execute("DELETE FROM edition_files WHERE edition_key = ?", (key,))
            self.db.executemany(
                "INSERT INTO edition_files (edition_key, name, content) VALUES (?, ?, ?)",
                [(key, name, content) for name, content in contents.items()],
            )
        return {name: self._write_copy(key, name, content) for name, content in contents.items()}

    def _write_copy(self, key: str, name: str, content: bytes) -> Path:
        path = self.data_dir / "editions" / key / name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        partial.replace(path)
        return path

    def archive_file(self, key: str, name: str) -> bytes | None:
        """One of an edition's files (``edition.html``, ``sample.eml``...), or None."""
        row = self.db.execute(
            "SELECT content FROM edition_files WHERE edition_key = ? AND name = ?", (key, name)
        ).fetchone()
        if row is not None:
            return bytes(row[0])
        return self._read_copy(key, name)

    def _read_copy(self, key: str, name: str) -> bytes | None:
        if not _plain(key) or not _plain(name):
            return None
        try:
            return (self.data_dir / "editions" / key / name).read_bytes()
        except OSError:
            return None

    def edition_index(
        self, *, before: str = "", limit: int | None = None, series: str = DEFAULT_SERIES
    ) -> list[EditionEntry]:
        """Editions newest first (those whose key sorts before ``before``), without their content.

        Of one newsletter and frequency: ``series`` is their keys' LIKE pattern
        (digest.newsletters.pattern_of; the default, the default newsletter's daily editions).

        Reads neither HTML, text nor files: its cost does not grow with the editions' size.
        (Only columns stored before ``html``: SQLite would walk its pages to reach later ones.)
        """
        query = """SELECT e.key, e.number, e.built, e.subject,
                          (SELECT COUNT(*) FROM edition_articles a WHERE a.edition_key = e.key)
                   FROM editions e WHERE (? = '' OR e.key < ?) AND e.key LIKE ?
                   ORDER BY e.key DESC"""
        args: tuple[str | int, ...] = (before, before, series)
        if limit is not None:
            query += " LIMIT ?"
            args += (limit,)
        return [
            EditionEntry(r[0], r[1], _built(r[2]), r[3], int(r[4]))
            for r in self.db.execute(query, args)
        ]


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _plain(name: str) -> bool:
    """A single path component, not hidden: nothing from a request climbs out of the archive."""
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _built(text: str) -> datetime:
    built = from_iso(text)
    assert built is not None
    return built
