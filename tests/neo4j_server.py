"""pytest plugin: a real Neo4j 5.26 (Community, embedded) over Bolt for the test suite.

Loaded from ``tests/conftest.py`` with ``pytest_plugins = ["neo4j_server"]``.

Fixtures
--------
``neo4j_uri`` (session)
    The Bolt URI of a Neo4j to test against. If ``CHAINGRAPH_NEO4J_URI`` is set, that server is
    used as is (**its default database is wiped before every test that uses ``neo4j_driver``**:
    never point it at a database you care about). Otherwise the launcher in ``tests/neo4j`` is
    built with Maven if needed (``scripts/neo4j-test-server build`` does the same ahead of time),
    started once per session on a free 127.0.0.1 port in a temporary directory, and stopped
    at the end of the session.
``neo4j_auth`` (session)
    ``(user, password)`` from ``CHAINGRAPH_NEO4J_USER`` / ``CHAINGRAPH_NEO4J_PASSWORD`` for an
    external server, else ``None`` (the launched server has no authentication).
``neo4j_driver`` (function)
    A ``neo4j.Driver`` on an empty database: all nodes and relationships, all constraints and
    all indexes except Neo4j's built-in token-lookup ones are removed before the test.

No Java (or no Maven to build the launcher) skips the tests that need Neo4j, except when the
environment variable ``CI`` is set (``true``/``1``/``yes``): CI must run them, so there it is an
error. A failing build or a server that does not start is always an error.

Environment knobs (for people, and for testing this plugin):
``CHAINGRAPH_JAVA`` path or name of the java executable (default: ``$JAVA_HOME/bin/java``, then
``java`` on PATH); ``CHAINGRAPH_MVN`` likewise for Maven; ``CHAINGRAPH_NEO4J_JAVA_OPTS`` replaces
the JVM options below; ``CHAINGRAPH_NEO4J_START_TIMEOUT`` seconds to wait for Bolt (default 180).
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER_DIR = ROOT / "tests" / "neo4j"
POM = LAUNCHER_DIR / "pom.xml"
SOURCES = LAUNCHER_DIR / "src"
TARGET = LAUNCHER_DIR / "target"
# Written after a successful build; the build is redone when pom.xml or a source is newer.
STAMP = TARGET / ".chaingraph-built"
CLASSPATH = os.pathsep.join([str(TARGET / "classes"), str(TARGET / "dependency" / "*")])
MAIN_CLASS = "org.chaingraph.testserver.Launcher"

# Keep in step with scripts/neo4j-test-server.
BUILD_ARGS = ["-q", "-B", "-Dstyle.color=never", "-f", str(POM), "compile"]
JVM_OPTS = [
    "-Xms256m",
    "-Xmx1g",  # the page cache (256 MiB, set in the Launcher) is off-heap, on top of this
    "-XX:+UseG1GC",
    "-XX:TieredStopAtLevel=1",  # C1 only: about a third less CPU to start on 2 cores
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
]

DEFAULT_START_TIMEOUT = 180.0  # seconds; ~15 s on an idle 2-core machine, far more when busy
BUILD_TIMEOUT = 1800.0
STOP_TIMEOUT = 60.0
LOG_TAIL = 4000  # characters of the launcher's log quoted in an error


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "neo4j: needs a real Neo4j reached over Bolt")


# --------------------------------------------------------------------------- helpers


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> None:
    """Skip the test for a missing tool — or fail it on CI, which must run the Neo4j tests."""
    if on_ci():
        pytest.fail(f"{reason} (CI is set, so the Neo4j tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def find_tool(env_var: str, name: str) -> str | None:
    """The executable named by env_var (a path or a name on PATH), else JAVA_HOME's, else PATH's."""
    chosen = os.environ.get(env_var)
    if chosen:
        return shutil.which(chosen)
    if name == "java" and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def needs_build() -> bool:
    if not STAMP.is_file() or not (TARGET / "classes").is_dir():
        return True
    built = STAMP.stat().st_mtime
    inputs = [POM, *(p for p in SOURCES.rglob("*") if p.is_file())]
    return any(p.stat().st_mtime > built for p in inputs)


def _lock_path() -> Path:
    digest = hashlib.md5(str(TARGET).encode()).hexdigest()[:12]  # same name as the shell script's
    return Path(tempfile.gettempdir()) / f"chaingraph-neo4j-build-{digest}.lock"


def build_launcher(mvn: str) -> None:
    """Build tests/neo4j unless up to date. Several processes may call this at once."""
    with open(_lock_path(), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not needs_build():
            return
        shutil.rmtree(TARGET, ignore_errors=True)  # copy-dependencies never removes stale jars
        cmd = [mvn, *BUILD_ARGS]
        try:
            done = subprocess.run(
                cmd,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"building the Neo4j test launcher timed out: {shlex.join(cmd)}")
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-LOG_TAIL:]
            raise RuntimeError(
                f"building the Neo4j test launcher failed (exit {done.returncode}):\n"
                f"  {shlex.join(cmd)}\n{output}"
            )
        STAMP.write_text("built by " + shlex.join(cmd) + "\n")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL:]
    except OSError:
        return ""


class Neo4jProcess:
    """The launcher JVM: started, waited for, stopped."""

    def __init__(self, java: str, jvm_opts: list[str]):
        self.workdir = Path(tempfile.mkdtemp(prefix="chaingraph-neo4j-"))
        self.log_path = self.workdir / "launcher.log"
        self.uri: str | None = None
        self._ready = threading.Event()
        cmd = [
            java,
            *jvm_opts,
            f"-Djava.io.tmpdir={self.workdir}",  # the Launcher's database directory goes here
            "-cp",
            CLASSPATH,
            MAIN_CLASS,
            "0",
        ]
        self.command = shlex.join(cmd)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdin=subprocess.PIPE,  # the Launcher stops when this closes, even if we die
                stdout=subprocess.PIPE,
                stderr=log,
                # Its own session: a Ctrl-C reaches pytest only, whose teardown stops the server.
                start_new_session=True,
            )
        atexit.register(self.stop)
        threading.Thread(target=self._read_stdout, name="neo4j-stdout", daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("BOLT ") and self.uri is None:
                self.uri = line.split(None, 1)[1]
                self._ready.set()
        self._ready.set()  # end of output: the process is gone

    def wait_ready(self, timeout: float) -> str:
        from neo4j import GraphDatabase

        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        if self.uri is None:
            state = (
                f"exited with code {self.proc.poll()}"
                if self.proc.poll() is not None
                else f"printed no BOLT line within {timeout:.0f} s"
            )
            raise RuntimeError(self._explain(f"the Neo4j test server {state}"))
        last_error: Exception | None = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with GraphDatabase.driver(self.uri, auth=None) as driver:
                    driver.verify_connectivity()
                return self.uri
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last_error = exc
                time.sleep(0.5)
        raise RuntimeError(
            self._explain(f"Neo4j at {self.uri} did not answer over Bolt: {last_error!r}")
        )

    def _explain(self, what: str) -> str:
        return f"{what}\n  command: {self.command}\n  log ({self.log_path}):\n{_tail(self.log_path)}"

    def stop(self) -> None:
        """Close stdin (clean shutdown), then SIGTERM, then SIGKILL; remove the work directory."""
        proc = self.proc
        if proc.poll() is None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT / 2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_server() -> Neo4jProcess:
    """Build if needed and start the launcher; skips (or fails on CI) without Java or Maven."""
    java = find_tool("CHAINGRAPH_JAVA", "java")
    if java is None:
        unavailable(
            "no Java: the Neo4j tests need Java 17+ (e.g. apt-get install openjdk-17-jdk-headless)"
            " or CHAINGRAPH_NEO4J_URI pointing at a Neo4j 5"
        )
    if needs_build():
        mvn = find_tool("CHAINGRAPH_MVN", "mvn")
        if mvn is None:
            unavailable(
                "no Maven: needed once to fetch Neo4j for the tests (e.g. apt-get install maven)"
            )
        try:
            build_launcher(mvn)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
    opts = os.environ.get("CHAINGRAPH_NEO4J_JAVA_OPTS")
    jvm_opts = shlex.split(opts) if opts is not None else JVM_OPTS
    timeout = float(os.environ.get("CHAINGRAPH_NEO4J_START_TIMEOUT", DEFAULT_START_TIMEOUT))
    server = Neo4jProcess(java, jvm_opts)
    try:
        server.wait_ready(timeout)
    except BaseException as exc:
        server.stop()
        if isinstance(exc, RuntimeError):
            pytest.fail(str(exc), pytrace=False)
        raise
    return server


def wipe(driver) -> None:
    """Remove all data, constraints and (non-built-in) indexes from the default database."""
    with driver.session() as session:
        session.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        for record in session.run("SHOW CONSTRAINTS YIELD name"):
            session.run(f"DROP CONSTRAINT {_quote(record['name'])} IF EXISTS").consume()
        for record in session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'"):
            session.run(f"DROP INDEX {_quote(record['name'])} IF EXISTS").consume()


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def neo4j_uri():
    """Bolt URI of the Neo4j under test (external via CHAINGRAPH_NEO4J_URI, or launched here)."""
    external = os.environ.get("CHAINGRAPH_NEO4J_URI")
    if external:
        yield external
        return
    server = start_server()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_auth():
    """(user, password) for an external server, or None for the launched one (no auth)."""
    if os.environ.get("CHAINGRAPH_NEO4J_URI") and os.environ.get("CHAINGRAPH_NEO4J_USER"):
        return (os.environ["CHAINGRAPH_NEO4J_USER"], os.environ.get("CHAINGRAPH_NEO4J_PASSWORD", ""))
    return None


@pytest.fixture
def neo4j_driver(neo4j_uri, neo4j_auth):
    """A driver on an emptied database (data, constraints and indexes removed first)."""
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(neo4j_uri, auth=neo4j_auth)
    try:
        wipe(driver)
        yield driver
    finally:
        driver.close()
