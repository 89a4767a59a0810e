import java.util.List;
import java.util.Locale;
import java.util.Set;

import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.bson.BsonRegularExpression;
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
 *
 * <p>A query that names `_id` (or another single-field unique index) with a plain value and other
 * conditions besides uses that index, as MongoDB does (see {@link IndexedCollection}).
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

    /** MongoDB's first batch of a find: 101 documents. */
    static final int FIRST_BATCH = 101;
    /** Later batches: MongoDB fills 16 MB; in documents of up to 16 KB that is 1,000 of them. */
    static final int NEXT_BATCH = 1000;

    /** The commands that change data (compared in lower case). */
    static final Set<String> WRITES = Set.of(
        "insert", "update", "delete", "findandmodify", "create", "createindexes", "drop", "dropindexes",
        "dropdatabase", "renamecollection");

    /**
     * A collection that narrows a query by a unique single-field index (such as `_id`) whenever the
     * query gives that field a plain value, whatever else it asks: `{_id: x, version: 3}` (a
     * version-guarded save), `{_id: x, "items.id": {$ne: y}}` (a guarded push). The library uses an
     * index only for a query on exactly its fields and scans the whole collection otherwise, so
     * every guarded single-document write cost time in proportion to the collection (45 ms at
     * 50,000 documents, against 2 ms by `_id` alone). The index gives the candidates; the whole
     * query still decides which of them match, so the results are the same.
     */
    static final class IndexedCollection extends H2Collection {
        IndexedCollection(MongoDatabase database, String name, CollectionOptions options,
                          org.h2.mvstore.MVMap<Object, Document> data, org.h2.mvstore.MVMap<String, Object> meta,
                          CursorRegistry cursors) {
            super(database, name, options, data, meta, cursors);
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit,
                                             int batchSize, Document fieldSelector) {
            if (query.size() > 1) {
                for (Index<Object> index : getIndexes()) {
                    if (index.getKeys().size() != 1) {
                        continue;
                    }
                    String key = index.getKeys().get(0).getKey();
                    Object value = query.get(key);
                    if (value == null || value instanceof Document || value instanceof java.util.Collection
                        || BsonRegularExpression.isRegularExpression(value)) {
                        continue;
                    }
                    Document narrowed = new Document(key, value);
                    if (index.canHandle(narrowed)) {
                        return matchDocuments(query, index.getPositions(narrowed), orderBy, numberToSkip, limit,
                            batchSize, fieldSelector);
                    }
                }
            }
            return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
        }
    }

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
            // Batches as MongoDB sizes them when the client names none: the library otherwise
            // answers a find (and each getMore) with every matching document in one reply, which
            // past 48 MB (a start reading a million leads) the client refuses.
            if ("find".equalsIgnoreCase(command) && !query.containsKey("batchSize")) {
                query.put("batchSize", FIRST_BATCH);
            } else if ("getmore".equalsIgnoreCase(command) && !query.containsKey("batchSize")) {
                query.put("batchSize", NEXT_BATCH);
            }
            // A query reads the map as it was when it began, page by page, and may take seconds (a
            // whole collection is read before the first batch is answered). Registering the
            // version keeps the store from freeing the chunks that version's pages are in until
            // the command ends; the retention time alone protects them for only that long, and a
            // longer scan beside writes read pages whose space had been reused ("Unable to read
            // the page").
            MVStore.TxCounter reading = store.registerVersionUsage();
            Document response;
            try {
                response = super.handleCommand(channel, database, command, query);
            } finally {
                store.deregisterVersionUsage(reading);
            }
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

        @Override
        protected MongoDatabase openOrCreateDatabase(String databaseName) {
            return new IndexedDatabase(databaseName);
        }

        /** H2Database with IndexedCollection; the map names are H2Database's own (1.47.0). */
        final class IndexedDatabase extends H2Database {
            IndexedDatabase(String name) {
                // called while H2Backend's constructor opens the stored databases: read the store
                // from the backend, which has it by then (this class's own fields would not)
                super(name, getMvStore(), getCursorRegistry());
            }

            @Override
            protected MongoCollection<Object> openOrCreateCollection(String name, CollectionOptions options) {
                String full = getFullCollectionNamespace(name);
                MVStore mvStore = getMvStore();
                return new IndexedCollection(this, name, options, mvStore.openMap("databases." + full),
                    mvStore.openMap("meta." + full), cursorRegistry);
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
