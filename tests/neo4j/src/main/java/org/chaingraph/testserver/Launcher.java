package org.chaingraph.testserver;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.internal.helpers.HostnamePort;
import org.neo4j.io.ByteUnit;
import org.neo4j.kernel.internal.GraphDatabaseAPI;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * A throw-away Neo4j (Community Edition, embedded) reached over Bolt, for chaingraph's tests.
 *
 * <pre>
 *   java -cp 'tests/neo4j/target/classes:tests/neo4j/target/dependency/*' \
 *        org.chaingraph.testserver.Launcher [PORT] [--ignore-stdin]
 * </pre>
 *
 * PORT 0 (the default) lets the kernel pick a free loopback port. The database lives in a fresh
 * temporary directory (under java.io.tmpdir) that is deleted on shutdown. Bolt listens on
 * 127.0.0.1 only, without authentication or TLS.
 *
 * When the default database is available, exactly one line goes to stdout:
 * {@code BOLT bolt://127.0.0.1:PORT}. Everything else (Neo4j's user log, errors) goes to stderr.
 *
 * The process stops cleanly when its standard input reaches end-of-file (so it dies with the
 * process that started it, even if that one is killed) unless --ignore-stdin is given, and on
 * SIGTERM/SIGINT (shutdown hook).
 */
public final class Launcher {
    private static final Object LOCK = new Object();
    private static DatabaseManagementService dbms;
    private static Path home;
    private static boolean stopped;

    private Launcher() {}

    public static void main(String[] args) {
        long t0 = System.nanoTime();
        // Keep stdout for the single readiness line; anything a library prints goes to stderr.
        PrintStream ready = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);

        int port = 0;
        boolean watchStdin = true;
        for (String arg : args) {
            if (arg.equals("--ignore-stdin")) {
                watchStdin = false;
            } else if (arg.equals("-h") || arg.equals("--help")) {
                System.err.println("usage: Launcher [PORT] [--ignore-stdin]");
                System.exit(0);
            } else {
                try {
                    port = Integer.parseInt(arg);
                } catch (NumberFormatException e) {
                    port = -1;
                }
                if (port < 0 || port > 65535) {
                    System.err.println("Launcher: bad port: " + arg);
                    System.exit(2);
                }
            }
        }

        Runtime.getRuntime().addShutdownHook(new Thread(Launcher::stop, "chaingraph-neo4j-shutdown"));

        int boltPort;
        try {
            synchronized (LOCK) {
                if (stopped) {
                    return;
                }
                home = Files.createTempDirectory("chaingraph-neo4j-");
                dbms = new DatabaseManagementServiceBuilder(home)
                        .setUserLogProvider(new Log4jLogProvider(System.err, Level.WARN))
                        .setConfig(BoltConnector.enabled, true)
                        .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                        .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                        .setConfig(GraphDatabaseSettings.auth_enabled, false)
                        .setConfig(GraphDatabaseSettings.udc_enabled, false)
                        .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
                        .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                        .setConfig(GraphDatabaseSettings.preallocate_store_files, false)
                        .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                        // Internal settings: Bolt's Netty event loops otherwise linger seconds
                        // (quiet period) on shutdown, which every test session would wait for.
                        .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                        .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout,
                                Duration.ofSeconds(5))
                        .build();
                GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
                if (!db.isAvailable(TimeUnit.MINUTES.toMillis(2))) {
                    throw new IllegalStateException("the default database did not become available");
                }
                HostnamePort bound = ((GraphDatabaseAPI) db)
                        .getDependencyResolver()
                        .resolveDependency(ConnectorPortRegister.class)
                        .getLocalAddress(ConnectorType.BOLT);
                if (bound == null) {
                    throw new IllegalStateException("the Bolt connector did not register a port");
                }
                boltPort = bound.getPort();
            }
        } catch (Throwable e) {
            System.err.println("Launcher: Neo4j failed to start: " + e);
            e.printStackTrace(System.err);
            stop();
            Runtime.getRuntime().halt(1);
            return;
        }

        ready.println("BOLT bolt://127.0.0.1:" + boltPort);
        ready.flush();
        System.err.printf("Launcher: Neo4j %s ready on bolt://127.0.0.1:%d after %d ms (JVM up %d ms)%n",
                org.neo4j.kernel.internal.Version.getNeo4jVersion(), boltPort,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
                java.lang.management.ManagementFactory.getRuntimeMXBean().getUptime());

        if (watchStdin) {
            try {
                byte[] buf = new byte[256];
                while (System.in.read(buf) != -1) {
                    // Input is ignored; only end-of-file matters.
                }
            } catch (IOException e) {
                // Treat a broken stdin like end-of-file.
            }
            System.exit(0); // runs the shutdown hook
        } else {
            try {
                Thread.currentThread().join(); // until SIGTERM/SIGINT
            } catch (InterruptedException e) {
                System.exit(0);
            }
        }
    }

    /** Shut the database down and delete its directory; safe to call more than once. */
    private static void stop() {
        synchronized (LOCK) {
            if (stopped) {
                return;
            }
            stopped = true;
            if (dbms != null) {
                long t0 = System.nanoTime();
                try {
                    dbms.shutdown();
                    System.err.printf("Launcher: Neo4j stopped in %d ms%n",
                            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                } catch (Throwable e) {
                    System.err.println("Launcher: shutdown failed: " + e);
                }
            }
            if (home != null) {
                deleteTree(home);
            }
        }
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.err.println("Launcher: could not delete " + root + ": " + e);
        }
    }
}
