import java.util.List;
import java.util.Locale;
import java.util.Set;

import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;

/**
 * Serves the MongoDB wire protocol on a chosen address, storing data in an H2 MVStore file.
 *
 * <p>Usage: WireServer FILE HOST PORT. Every update of a collection is serialized by the
 * backend, so single-document updates are atomic, which the hub's outbox and idempotent
 * consumers rely on.
 *
 * <p>Acknowledged means stored: a write is answered only once an MVStore commit that contains it
 * has been written to the file (group commit: one committer thread commits whatever writes have
 * come in while the previous commit ran, and releases them together). So a write the client saw
 * acknowledged survives a kill -9 of this process. (The file is not fsynced per commit: an
 * operating-system crash or power loss can still lose the last moments; production runs MongoDB.)
 */
public class WireServer {
    /** PyMongo 4.20 speaks to wire version 9 (MongoDB 4.4) and newer; the hub uses nothing beyond 5.0. */
    enum Reported implements MongoVersion {
        MONGO_5_0;

        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    }

    /** The commands that change data (compared in lower case). */
    static final Set<String> WRITES = Set.of(
        "insert", "update", "delete", "findandmodify", "create", "createindexes", "drop", "dropindexes",
        "dropdatabase", "renamecollection");

    /** Answers a write once a commit containing it is in the file. */
    static final class DurableBackend extends H2Backend {
        private final MVStore store;
        private final Object lock = new Object();
        private long written;
        private long committed;

        DurableBackend(MVStore store) {
            super(store);
            this.store = store;
            Thread committer = new Thread(this::commitLoop, "group-commit");
            committer.setDaemon(true);
            committer.start();
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            Document response = super.handleCommand(channel, database, command, query);
            if (WRITES.contains(command.toLowerCase(Locale.ROOT))) {
                awaitCommit();
            }
            return response;
        }

        private void awaitCommit() {
            synchronized (lock) {
                long mine = ++written;
                lock.notifyAll();
                while (committed < mine) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
        }

        private void commitLoop() {
            while (true) {
                long target;
                synchronized (lock) {
                    while (written == committed) {
                        try {
                            lock.wait();
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    target = written;
                }
                // every write counted in `target` was applied before it was counted: this commit has it
                store.commit();
                synchronized (lock) {
                    committed = target;
                    lock.notifyAll();
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: WireServer FILE HOST PORT");
            System.exit(2);
        }
        MVStore store = MVStore.open(args[0]);
        // Old chunks are kept only briefly: with a commit per group of writes, the default 45 s of
        // retention would grow the file by every chunk of the last 45 s. The process is what a
        // kill -9 ends; the operating system still writes out what it was given.
        store.setRetentionTime(1000);
        MongoServer server = new MongoServer(new DurableBackend(store).version(Reported.MONGO_5_0));
        // Writers wait for their commit on the event loop thread: enough loops that the others
        // keep serving meanwhile.
        server.bind(new java.net.InetSocketAddress(args[1], Integer.parseInt(args[2])), 1, 32);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
        System.out.println("listening on " + args[1] + ":" + args[2] + ", data in " + args[0]);
        Thread.currentThread().join();
    }
}
