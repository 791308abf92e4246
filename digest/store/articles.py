"""The sources, articles and summaries tables: what collect and summarize leave behind."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from digest.models import Article, FetchState, Summary
from digest.store.engine import Database, upsert
from digest.store.rows import (
    article_from,
    article_row,
    content_hash,
    fetch_state_from,
    iso,
)

CHUNK = 500
"""Values per ``IN (...)`` query: well under SQLite's limit on bound parameters."""


class ArticleTables:
    """Sources' fetch state, articles and their summaries: a part of :class:`digest.store.Store`."""

    db: Database

    # --- sources ----------------------------------------------------------------------------

    def fetch_state(self, key: str) -> FetchState:
        row = self.db.execute("SELECT * FROM sources WHERE key = ?", (key,)).fetchone()
        if row is None:
            return FetchState(key=key, url=key)
        return fetch_state_from(row)

    def fetch_states(self, keys: Iterable[str] | None = None) -> list[FetchState]:
        """Every source's state, or only those of ``keys`` (a collect job's one source need
        not read the other thousands)."""
        if keys is None:
            rows = self.db.execute("SELECT * FROM sources ORDER BY key").fetchall()
            return [fetch_state_from(r) for r in rows]
        found: list[FetchState] = []
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            cursor = self.db.execute(f"SELECT * FROM sources WHERE key IN ({marks})", chunk)
            found.extend(fetch_state_from(r) for r in cursor)
        return sorted(found, key=lambda state: state.key)

    def save_fetch_state(self, state: FetchState) -> None:
        self.save_fetch_states([state])

    def save_fetch_states(self, states: Iterable[FetchState]) -> None:
        """Remember each source's state, all in one transaction."""
        with self.db:
            self._save_fetch_states(states)

    def save_collected(
        self, states: Iterable[FetchState], articles: Iterable[Article], *, now: datetime
    ) -> tuple[int, int]:
        """What a collect brought, in one transaction: the sources' new state (ETag,
        Last-Modified) and their articles, so that a crash never keeps the one without the
        other (a feed that answers 304 to the saved ETag would never give them again).
        Returns (new, updated) as :meth:`save_articles`."""
        with self.db:
            self._save_fetch_states(states)
            return self._save_articles(articles, now=now)

    def _save_fetch_states(self, states: Iterable[FetchState]) -> None:
        self.db.executemany(
            upsert(
                "sources",
                (
                    "key",
                    "url",
                    "etag",
                    "last_modified",
                    "not_before",
                    "last_success",
                    "last_error",
                    "failures",
                    "disabled",
                ),
                key=("key",),
            ),
            [
                (
                    state.key,
                    state.url,
                    state.etag,
                    state.last_modified,
                    iso(state.not_before),
                    iso(state.last_success),
                    state.last_error,
                    state.failures,
                    state.disabled,
                )
                for state in states
            ],
        )

    # --- articles ---------------------------------------------------------------------------

    def save_articles(self, articles: Iterable[Article], *, now: datetime) -> tuple[int, int]:
        """Insert new articles, update changed ones in place; return (new, updated).

        An article already stored under its id, or under its URL with another id and the
        same headline or text (re-published with a new guid, or the same story in a second
        feed), is the stored one. A shared URL alone is not: a podcast's episodes may all
        link to its home page. Its source may update it in place when the content changed; a
        second source's copy changes nothing.
        """
        with self.db:
            return self._save_articles(articles, now=now)

    def _save_articles(self, articles: Iterable[Article], *, now: datetime) -> tuple[int, int]:
        """:meth:`save_articles` inside the caller's transaction: what is stored already is
        read in a few batched queries, then the new rows inserted in one statement."""
        batch = list(articles)
        known = _Known(self._matching_rows(batch))
        inserts: list[dict[str, object]] = []
        updated = 0
        for article in batch:
            stored = known.match(article)
            row = article_row(article, now=now)
            if stored is None:
                inserts.append(row)
                known.add(row)
            elif stored["source_key"] == article.source_key and stored[
                "content_hash"
            ] != content_hash(article):
                self._update_article(str(stored["id"]), article, now)
                known.update(stored, row)
                updated += 1
        if inserts:
            names = ", ".join(inserts[0])
            # DO NOTHING: a second machine storing the same story at this moment keeps its row.
            self.db.executemany(
                f"""INSERT INTO articles ({names}) VALUES (:{names.replace(", ", ", :")})
                    ON CONFLICT (id) DO NOTHING""",
                inserts,
            )
        return len(inserts), updated

    def _matching_rows(self, articles: list[Article]) -> list[dict[str, object]]:
        """The stored rows any of ``articles`` may be: by id, and by URL (the headline and
        text are compared in :class:`_Known`)."""
        columns = ("id", "url", "source_key", "title", "text", "content_hash", "first_seen")
        rows: dict[str, dict[str, object]] = {}
        for column, values in (
            ("id", [a.id for a in articles]),
            ("url", [a.url for a in articles if a.url]),
        ):
            unique = list(dict.fromkeys(values))
            for start in range(0, len(unique), CHUNK):
                chunk = unique[start : start + CHUNK]
                marks = ", ".join("?" * len(chunk))
                found = self.db.execute(
                    f"SELECT {', '.join(columns)} FROM articles WHERE {column} IN ({marks})",
                    chunk,
                )
                rows.update((str(r[0]), dict(zip(columns, r, strict=True))) for r in found)
        return list(rows.values())

    def _update_article(self, stored_id: str, article: Article, now: datetime) -> None:
        """Keep the stored id, first-seen and published times; take what a reader sees."""
        row = article_row(article, now=now)
        changed = (
            "url",
            "title",
            "text",
            "author",
            "image",
            "language",
            "tags",
            "content_hash",
            "updated",
        )
        self.db.execute(
            f"UPDATE articles SET {', '.join(f'{c} = :{c}' for c in changed)} WHERE id = :stored",
            {**row, "stored": stored_id},
        )

    def stored_versions(self, articles: Iterable[Article]) -> dict[str, Article]:
        """For each article already stored (by id, else by URL and headline): its stored
        version, by new id."""
        wanted = list(articles)
        by_id = {a.id: a for a in self._articles_where("id", [a.id for a in wanted])}
        by_url = {
            (a.url, a.title): a
            for a in self._articles_where(
                "url", [a.url for a in wanted if a.url and a.id not in by_id]
            )
        }
        found = {}
        for article in wanted:
            stored = by_id.get(article.id) or by_url.get((article.url, article.title))
            if stored is not None:
                found[article.id] = stored
        return found

    def _articles_where(self, column: str, values: list[str]) -> list[Article]:
        """Stored articles whose ``column`` is one of ``values``, newest first (so that in a
        dict built from them, the oldest wins)."""
        found: list[Article] = []
        unique = list(dict.fromkeys(values))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            rows = self.db.execute(
                f"""SELECT * FROM articles WHERE {column} IN ({", ".join("?" * len(chunk))})
                    ORDER BY first_seen DESC, id DESC""",
                chunk,
            )
            found.extend(article_from(row) for row in rows)
        return found

    def article(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return article_from(row) if row else None

    def candidate_articles(
        self, *, since: datetime, edition_key: str = "", series: str = ""
    ) -> list[Article]:
        """Articles published since ``since`` that no other edition carried, newest first.

        Carried means: by an edition whose version somebody was sent (sealed); one built
        but never sent carries nothing. With ``series`` (a key pattern for LIKE), only the
        editions of that newsletter and frequency count.
        """
        rows = self.db.execute(
            """SELECT * FROM articles
               WHERE published >= :since
                 AND id NOT IN (SELECT c.article_id FROM edition_articles c
                                JOIN editions e ON e.key = c.edition_key
                                WHERE c.edition_key != :key AND e.sealed = 1
                                  AND (:series = '' OR c.edition_key LIKE :series))
               ORDER BY published DESC, id""",
            {"since": iso(since), "key": edition_key, "series": series},
        )
        return [article_from(row) for row in rows]

    def articles_stamp(self) -> str:
        """A value that changes whenever an article is stored or updated."""
        count, newest = self.db.execute("SELECT COUNT(*), MAX(updated) FROM articles").fetchone()
        return f"{count}:{newest}"

    def latest_articles(self, limit: int) -> list[Article]:
        rows = self.db.execute(
            "SELECT * FROM articles ORDER BY published DESC, id LIMIT ?", (limit,)
        )
        return [article_from(row) for row in rows]

    # --- summaries --------------------------------------------------------------------------

    def cached_summary(self, article: Article, settings: str) -> Summary | None:
        row = self.db.execute(
            "SELECT * FROM summaries WHERE article_id = ? AND settings = ? AND content_hash = ?",
            (article.id, settings, content_hash(article)),
        ).fetchone()
        if row is None:
            return None
        return Summary(article.id, tuple(json.loads(row["sentences"])), row["method"])

    def save_summary(self, article: Article, settings: str, summary: Summary) -> None:
        with self.db:
            self.db.execute(
                upsert(
                    "summaries",
                    ("article_id", "settings", "content_hash", "method", "sentences"),
                    key=("article_id", "settings"),
                ),
                (
                    article.id,
                    settings,
                    content_hash(article),
                    summary.method,
                    json.dumps(summary.sentences),
                ),
            )


SAME_TEXT_WORDS = 30
"""A text shared under one link names one story only when it is this long: a podcast's
episodes may all carry the same two-line blurb."""


def _telling(text: str) -> str:
    """The text, when it is long enough to tell a story apart; else "" (which matches nothing)."""
    return text if len(text.split()) >= SAME_TEXT_WORDS else ""


class _Known:
    """Stored rows (and the ones this batch adds), found the way a single article would be:
    by id, else by URL and the same headline or a telling text, the oldest first."""

    def __init__(self, rows: Iterable[dict[str, object]]) -> None:
        self.by_id: dict[str, dict[str, object]] = {}
        self.by_url: dict[str, list[dict[str, object]]] = {}
        for row in rows:
            self.add(row)

    def add(self, row: dict[str, object]) -> None:
        self.by_id[str(row["id"])] = row
        self.by_url.setdefault(str(row["url"]), []).append(row)

    def update(self, stored: dict[str, object], row: dict[str, object]) -> None:
        """``stored`` now reads as ``row`` does (its id and first-seen time kept)."""
        old_url = str(stored["url"])
        for name in ("url", "title", "text", "content_hash"):
            stored[name] = row[name]
        if stored["url"] != old_url:
            self.by_url[old_url].remove(stored)
            self.by_url.setdefault(str(stored["url"]), []).append(stored)

    def match(self, article: Article) -> dict[str, object] | None:
        found = self.by_id.get(article.id)
        if found is not None or not article.url:
            return found
        text = _telling(article.text)
        same = [
            row
            for row in self.by_url.get(article.url, ())
            if row["title"] == article.title or (text and row["text"] == text)
        ]
        return min(same, key=lambda r: (str(r["first_seen"]), str(r["id"])), default=None)
