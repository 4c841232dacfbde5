"""The one way chaingraph talks to Neo4j: a query runner over the official driver.

Every statement goes through :meth:`Runner.read` or :meth:`Runner.write`,
which use the driver's managed transactions (``Driver.execute_query``): a
transient failure (leader switch, deadlock, dropped connection) is retried by
the driver until ``max_transaction_retry_time``. A failure that retrying cannot
fix (wrong password, no server, unknown database) becomes one
:class:`~chaingraph.exc.BackendError` line naming the server's URI; the
password is never part of a message or a log line.

Settings come from arguments or the environment::

    CHAINGRAPH_NEO4J_URI        bolt://host:7687, neo4j://…, neo4j+s://… (TLS), bolt+s://…
    CHAINGRAPH_NEO4J_USER       user name (default neo4j when a password is set)
    CHAINGRAPH_NEO4J_PASSWORD   password
    CHAINGRAPH_NEO4J_DATABASE   database (default: the server's default database)

Examples
--------
>>> redact("neo4j+s://alice:secret@db.example.org:7687")
'neo4j+s://db.example.org:7687'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from ..exc import BackendError

ENV = {"uri": "CHAINGRAPH_NEO4J_URI", "user": "CHAINGRAPH_NEO4J_USER",
       "password": "CHAINGRAPH_NEO4J_PASSWORD", "database": "CHAINGRAPH_NEO4J_DATABASE"}
SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def redact(uri: str) -> str:
    """The URI without any ``user:password@`` part (safe to print)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Settings:
    """Where and as whom to connect. ``repr`` never shows the password."""

    uri: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None

    @classmethod
    def resolve(cls, uri=None, user=None, password=None, database=None) -> "Settings":
        """Arguments first, then ``CHAINGRAPH_NEO4J_*`` environment variables."""
        env = os.environ
        uri = uri or env.get(ENV["uri"])
        if not uri:
            raise BackendError(f"no Neo4j server given: pass --uri or set {ENV['uri']}")
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme not in SCHEMES:
            raise BackendError(f"{redact(uri)}: not a Neo4j URI (use one of {', '.join(s + '://' for s in SCHEMES)})")
        parts = urlsplit(uri)
        user = user or env.get(ENV["user"]) or parts.username
        password = password if password is not None else env.get(ENV["password"], parts.password)
        database = database or env.get(ENV["database"]) or None
        return cls(redact(uri), user, password, database)

    @property
    def auth(self):
        if self.user is None and self.password is None:
            return None
        return (self.user or "neo4j", self.password or "")


def _explain(exc: Exception, where: str, settings: Settings | None) -> BackendError:
    """One clear line for a failure retrying cannot fix. Never quotes a password."""
    from neo4j import exceptions as ne

    who = f" as {settings.user!r}" if settings and settings.user else ""
    if isinstance(exc, ne.AuthError):
        msg = f"Neo4j at {where}: authentication failed{who} (check {ENV['user']} / {ENV['password']})"
    elif isinstance(exc, (ne.ServiceUnavailable, ne.SessionExpired, OSError)):
        msg = f"Neo4j at {where}: cannot connect ({type(exc).__name__}); is the server running and the URI right?"
    elif isinstance(exc, ne.ClientError) and "database" in (exc.code or "").lower():
        db = settings.database if settings else None
        msg = f"Neo4j at {where}: database {db!r} is not available ({exc.code})"
    elif isinstance(exc, ne.Neo4jError):
        msg = f"Neo4j at {where}: {exc.code}: {exc.message}"
    else:
        msg = f"Neo4j at {where}: {type(exc).__name__}: {exc}"
    if settings and settings.password:
        msg = msg.replace(settings.password, "***")
    return BackendError(msg)


class Runner:
    """Runs parameterised Cypher on one database.

    Parameters
    ----------
    uri_or_driver : str, neo4j.Driver or Runner, optional
        A Bolt URI (``bolt://``, ``neo4j://``, ``neo4j+s://`` …), a driver you
        already have (not closed by :meth:`close`), or None for
        ``CHAINGRAPH_NEO4J_URI``.
    user, password, database : str, optional
        Else from ``CHAINGRAPH_NEO4J_USER`` / ``…_PASSWORD`` / ``…_DATABASE``.
    record : list, optional
        When given, every ``(query, parameters)`` sent is appended to it (for tests).
    """

    def __init__(self, uri_or_driver=None, *, user=None, password=None, database=None,
                 max_retry_time: float = 30.0, record: list | None = None):
        import neo4j

        self.record = record
        if isinstance(uri_or_driver, Runner):
            uri_or_driver = uri_or_driver.driver
        if uri_or_driver is not None and not isinstance(uri_or_driver, str):
            self.driver, self._own = uri_or_driver, False
            self.settings = None
            self.database = database or os.environ.get(ENV["database"]) or None
            self.where = "the given driver"
            return
        self.settings = Settings.resolve(uri_or_driver, user, password, database)
        self.database = self.settings.database
        self.where = self.settings.uri
        try:
            self.driver = neo4j.GraphDatabase.driver(
                self.settings.uri, auth=self.settings.auth, max_transaction_retry_time=max_retry_time, notifications_min_severity="OFF",
                connection_timeout=15.0, connection_acquisition_timeout=60.0)
        except Exception as e:  # a malformed URI or option: say so in one line
            raise _explain(e, self.where, self.settings) from None
        self._own = True

    # -- queries ---------------------------------------------------------------
    def _run(self, query: str, params: dict, write: bool, transformer):
        import neo4j

        if self.record is not None:
            self.record.append((query, params))

        def work(tx):
            return transformer(tx.run(query, params))

        try:
            with self.driver.session(database=self.database, notifications_min_severity="OFF") as session:
                return (session.execute_write if write else session.execute_read)(work)
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, OSError) as e:
            raise _explain(e, self.where, self.settings) from None

    def read(self, query: str, **params) -> list[list]:
        """Rows (lists of values) of a read query (retried when the failure is transient)."""
        return self._run(query, params, False, lambda r: r.values())

    def table(self, query: str, **params) -> list[list]:
        """Rows of a read query written ``… RETURN collect([…]) AS rows`` (one record)."""
        rows = self._run(query, params, False, lambda r: r.values())
        return rows[0][0] if rows else []

    def write(self, query: str, **params):
        """Run a write query in its own transaction (retried when transient); its counters."""
        return self._run(query, params, True, lambda r: r.consume().counters)

    def write_rows(self, query: str, **params) -> list[list]:
        """Rows returned by a write query."""
        return self._run(query, params, True, lambda r: r.values())

    def check(self) -> None:
        """Connect now (raises BackendError with one line if that fails)."""
        self.read("RETURN 1")

    def close(self) -> None:
        if self._own:
            self.driver.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Runner({self.where!r}, database={self.database!r})"


def connect(uri_or_driver=None, **kw) -> Runner:
    """A :class:`Runner` (or the one given) for ``uri_or_driver``."""
    if isinstance(uri_or_driver, Runner):
        return uri_or_driver
    return Runner(uri_or_driver, **{k: v for k, v in kw.items() if v is not None})
