import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.h2.mvstore.WriteBuffer;
import org.h2.mvstore.type.BasicDataType;
import org.h2.mvstore.type.ObjectDataType;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.CollectionOptions;
import de.bwaldvogel.mongo.backend.CursorRegistry;
import de.bwaldvogel.mongo.backend.DefaultQueryMatcher;
import de.bwaldvogel.mongo.backend.EmptyIndex;
import de.bwaldvogel.mongo.backend.Index;
import de.bwaldvogel.mongo.backend.IndexKey;
import de.bwaldvogel.mongo.backend.KeyValue;
import de.bwaldvogel.mongo.backend.Utils;
import de.bwaldvogel.mongo.backend.ValueComparator;
import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.h2.H2Collection;
import de.bwaldvogel.mongo.backend.h2.H2Database;
import de.bwaldvogel.mongo.backend.h2.H2UniqueIndex;
import de.bwaldvogel.mongo.bson.BsonRegularExpression;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
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
     * 50,000 documents, against 2 ms by `_id` alone). The index gives the candidates, and the
     * rest of the query decides which of them match, so the results are the same. The condition
     * the index answered is not checked again: the library matched each document a `$in` found
     * against the whole list once more, so reading 500 documents by `_id` compared 250,000 pairs
     * (two fifths of the server's time while reports were read).
     */
    static final class IndexedCollection extends H2Collection {
        IndexedCollection(MongoDatabase database, String name, CollectionOptions options,
                          org.h2.mvstore.MVMap<Object, Document> data, org.h2.mvstore.MVMap<String, Object> meta,
                          CursorRegistry cursors) {
            super(database, name, options, data, meta, cursors);
        }

        /**
         * No running total of the documents' sizes: keeping it encodes the old and the new
         * document whole on every update (a fifth of the server's time while leads come in, where
         * day documents of hundreds of items are rewritten), and only collStats and dbStats read
         * it, which the hub never asks for.
         */
        @Override
        protected boolean tracksDataSize() {
            return false;
        }

        @Override
        protected QueryResult queryDocuments(Document query, Document orderBy, int numberToSkip, int limit,
                                             int batchSize, Document fieldSelector) {
            for (Index<Object> index : getIndexes()) {
                if (index.getKeys().size() != 1) {
                    continue;
                }
                String key = index.getKeys().get(0).getKey();
                if (inWithNull(query.get(key)) && !index.canHandle(new Document(key, null))) {
                    // null matches the documents without the field too, which a sparse index (one
                    // that cannot answer null) leaves out: the library answered from it and missed them
                    return matchDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
                }
                List<Object> positions = positions(index, key, query.get(key), query.size() == 1);
                if (positions != null) {
                    // the index has answered this field's condition exactly: its documents are
                    // matched against the rest of the query only
                    Document rest = new Document(query);
                    rest.remove(key);
                    return matchDocuments(rest, positions, orderBy, numberToSkip, limit, batchSize, fieldSelector);
                }
            }
            if (!LOG_SCANS || getIndexes().stream().anyMatch(index -> index.canHandle(query))) {
                return super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
            }
            long started = System.nanoTime();
            QueryResult result = super.queryDocuments(query, orderBy, numberToSkip, limit, batchSize, fieldSelector);
            logScan(getFullName(), query, orderBy, count(), (System.nanoTime() - started) / 1_000_000.0);
            return result;
        }

        private static boolean inWithNull(Object condition) {
            return condition instanceof Document document && document.get("$in") instanceof java.util.Collection<?> in
                && in.contains(null);
        }

        /**
         * The documents a unique single-field index finds for the query's condition on its field:
         * a plain value, or `$in` of plain values (a batch read or claim by `_id` with other
         * conditions besides); null when the index cannot narrow that condition. `inOrder`: a
         * query on that field alone gets its `$in` documents in the order of their values, as the
         * library gives them.
         */
        private static List<Object> positions(Index<Object> index, String key, Object condition, boolean inOrder) {
            if (condition == null) {
                return null; // no condition on this field
            }
            java.util.Collection<?> values = List.of(condition);
            if (condition instanceof Document document && document.size() == 1
                && document.get("$in") instanceof java.util.Collection<?> in) {
                values = in;
                if (inOrder) {
                    java.util.TreeSet<Object> ordered = new java.util.TreeSet<>(ValueComparator.asc());
                    ordered.addAll(in);
                    values = ordered;
                }
            }
            java.util.LinkedHashSet<Object> found = new java.util.LinkedHashSet<>();
            for (Object value : values) {
                // null also matches a document without the field, which an index entry does not say
                if (value == null || value instanceof Document
                    || value instanceof java.util.Collection || BsonRegularExpression.isRegularExpression(value)) {
                    return null;
                }
                Document narrowed = new Document(key, value);
                if (!index.canHandle(narrowed)) {
                    return null;
                }
                index.getPositions(narrowed).forEach(found::add);
            }
            return new ArrayList<>(found);
        }
    }

    /**
     * CRMHUB_WIRE_LOG_SCANS=1: every query that no index narrows (MongoDB's COLLSCAN) is written to
     * standard output as one JSON line: its collection, the query's shape (field names and
     * operators, values left out), the collection's size and the time it took. A diagnostic for
     * finding the paths whose cost grows with the data; off by default.
     */
    static final boolean LOG_SCANS = "1".equals(System.getenv("CRMHUB_WIRE_LOG_SCANS"));

    static void logScan(String namespace, Document query, Document orderBy, int documents, double millis) {
        String line = String.format(Locale.ROOT,
            "{\"scan\":\"%s\",\"query\":\"%s\",\"sort\":\"%s\",\"documents\":%d,\"ms\":%.1f}",
            namespace, shape(query).replace("\"", "'"), orderBy == null ? "" : String.join(",", orderBy.keySet()),
            documents, millis);
        synchronized (System.out) {
            System.out.println(line);
        }
    }

    /** A query with its values left out: `{status: ?, "outbox.0": {$exists: ?}}`. */
    static String shape(Object value) {
        if (value instanceof Document document) {
            StringBuilder out = new StringBuilder("{");
            for (var entry : document.entrySet()) {
                out.append(out.length() > 1 ? ", " : "").append(entry.getKey()).append(": ")
                    .append(shape(entry.getValue()));
            }
            return out.append('}').toString();
        }
        if (value instanceof java.util.Collection<?> items) {
            return items.stream().map(WireServer::shape).distinct().toList().toString();
        }
        return "?";
    }

    /**
     * A partial index, as MongoDB builds one from `partialFilterExpression`: it holds the
     * documents that match the filter, and answers every query that asks for at least the
     * filter's conditions (the whole query then decides among them). The library ignores every
     * index that is not unique, so the outbox relays' safety scan for pending events
     * (`{"outbox.0": {$exists: true}}`) read every document of a collection, holding the
     * collection's lock while it did: at 5,500 deliveries 30 ms, growing with the data. Through
     * this index it reads only the documents with pending events.
     *
     * <p>Kept in memory: built when a client asks for the index (the services do at every start,
     * as they would of MongoDB), by one pass over the collection; until then a query scans, as
     * before. Every change of the collection goes through it under the collection's lock.
     */
    static final class PartialIndex extends Index<Object> {
        private final Document filter;
        private final DefaultQueryMatcher matcher = new DefaultQueryMatcher();
        /** The positions (`_id`s) of the matching documents, oldest first (read by unlocked counts too). */
        private final java.util.LinkedHashSet<Object> positions = new java.util.LinkedHashSet<>();

        PartialIndex(String name, List<IndexKey> keys, Document filter) {
            super(name, keys, true);
            this.filter = filter;
        }

        private boolean matches(Document document) {
            return matcher.matches(document, filter);
        }

        @Override
        public boolean hasSameOptions(Index<?> other) {
            return true; // the stored description reopens as the library's empty index: same index
        }

        @Override
        public Object getPosition(Document document) {
            Object id = document.get("_id");
            synchronized (positions) {
                return positions.contains(id) ? id : null;
            }
        }

        @Override
        public void checkAdd(Document document, MongoCollection<Object> collection) {
        }

        @Override
        public void add(Document document, Object position, MongoCollection<Object> collection) {
            if (matches(document)) {
                synchronized (positions) {
                    positions.add(position);
                }
            }
        }

        @Override
        public Object remove(Document document) {
            Object id = document.get("_id");
            synchronized (positions) {
                return positions.remove(id) ? id : null; // sparse: a document it does not hold is no error
            }
        }

        @Override
        public boolean canHandle(Document query) {
            for (var condition : filter.entrySet()) {
                if (!java.util.Objects.equals(query.get(condition.getKey()), condition.getValue())) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public Iterable<Object> getPositions(Document query) {
            synchronized (positions) {
                return new java.util.ArrayList<>(positions);
            }
        }

        @Override
        public long getCount() {
            synchronized (positions) {
                return positions.size();
            }
        }

        @Override
        public long getDataSize() {
            return 0;
        }

        @Override
        public void checkUpdate(Document oldDocument, Document newDocument, MongoCollection<Object> collection) {
        }

        @Override
        public void updateInPlace(Document oldDocument, Document newDocument, Object position,
                                  MongoCollection<Object> collection) {
            boolean matching = matches(newDocument);
            synchronized (positions) {
                if (matching) {
                    positions.add(position);
                } else {
                    positions.remove(position);
                }
            }
        }

        @Override
        public void drop() {
            synchronized (positions) {
                positions.clear();
            }
        }

        @Override
        public Document toIndexDescription() {
            return super.toIndexDescription().append("partialFilterExpression", filter);
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

            /** A non-unique index with a `partialFilterExpression` is built as a {@link PartialIndex}. */
            @Override
            protected void addIndex(Document description) {
                if (description.get("partialFilterExpression") instanceof Document filter
                    && !Utils.isTrue(description.get("unique")) && !filter.isEmpty()) {
                    String name = (String) description.get("name");
                    String namespace = description.get("ns").toString();
                    MongoCollection<Object> collection =
                        resolveOrCreateCollection(namespace.substring(getDatabaseName().length() + 1));
                    Index<Object> existing = collection.getIndexes().stream()
                        .filter(index -> index.getName().equals(name)).findFirst().orElse(null);
                    if (existing instanceof EmptyIndex) {
                        collection.dropIndex(name); // reopened from its stored description at start
                        existing = null;
                    }
                    if (existing == null) {
                        List<IndexKey> keys = new java.util.ArrayList<>();
                        for (String key : ((Document) description.get("key")).keySet()) {
                            keys.add(new IndexKey(key, true));
                        }
                        synchronized (collection) { // the library's writers hold this lock: none is missed
                            collection.addIndex(new PartialIndex(name, keys, filter));
                        }
                    }
                }
                super.addIndex(description);
            }

            /** The library's unique index, on a map whose keys are compared as values ({@link KeyValueType}). */
            @Override
            protected Index<Object> openOrCreateUniqueIndex(String collectionName, String indexName,
                                                            List<IndexKey> keys, boolean sparse) {
                MVMap<KeyValue, Object> map = getMvStore().openMap(
                    getFullCollectionNamespace(collectionName) + INDEX_INFIX + indexName, indexEntries());
                try {
                    return UNIQUE_INDEX.newInstance(map, indexName, keys, sparse);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            }

            @Override
            protected MongoCollection<Object> openOrCreateCollection(String name, CollectionOptions options) {
                String full = getFullCollectionNamespace(name);
                MVStore mvStore = getMvStore();
                return new IndexedCollection(this, name, options, mvStore.openMap("databases." + full, documents()),
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

    /**
     * Documents are stored as BSON. The library's default (H2's ObjectDataType) stores them by Java
     * serialization, which a profile of the hub under load showed to be the largest part of the
     * server's work: a new ObjectOutputStream per document, class descriptors, a handle table
     * cleared each time. BSON is what the documents arrive and leave as, and the library's own
     * encoder and decoder read and write every type a document can hold.
     */
    static final class BsonDocumentType extends BasicDataType<Document> {
        static final byte BSON = 0;
        /** A value BSON cannot carry (none the hub stores; the library's own types all can). */
        static final byte SERIALIZED = 1;
        private static final ObjectDataType SERIALIZATION = new ObjectDataType();

        /**
         * What the page cache counts a document as: the running average of the collection's
         * encoded documents, as H2's own ObjectDataType counts serialized ones. A constant would
         * count a day document of hundreds of kilobytes as a few hundred bytes, and the cache
         * would keep far more than its size in memory.
         */
        private volatile int averageSize = 10_000;

        @Override
        public int getMemory(Document document) {
            return averageSize;
        }

        @Override
        public void write(WriteBuffer buffer, Document document) {
            ByteBuf bytes = Unpooled.buffer(256);
            try {
                BsonEncoder.encodeDocument(document, bytes); // whole, before anything is written
                averageSize = (int) ((averageSize * 15L + bytes.readableBytes()) / 16);
                buffer.put(BSON);
                buffer.put(bytes.nioBuffer());
            } catch (IllegalArgumentException unencodable) {
                buffer.put(SERIALIZED);
                SERIALIZATION.write(buffer, document);
            } finally {
                bytes.release();
            }
        }

        @Override
        public Document read(ByteBuffer buffer) {
            if (buffer.get() == SERIALIZED) {
                return (Document) SERIALIZATION.read(buffer);
            }
            int length = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN).getInt();
            ByteBuffer bson = buffer.slice();
            bson.limit(length);
            buffer.position(buffer.position() + length);
            return BsonDecoder.decodeBson(Unpooled.wrappedBuffer(bson));
        }

        @Override
        public Document[] createStorage(int size) {
            return new Document[size];
        }

        @Override
        public int compare(Document a, Document b) {
            return a.equals(b) ? 0 : 1; // values are only ever compared for equality
        }
    }

    /**
     * The keys of a unique index (`_id` and every other). The library leaves them to H2's
     * ObjectDataType, which compares two keys of a type it does not know by Java-serializing both:
     * a new ObjectOutputStream per side, per comparison, about twenty comparisons per lookup. A
     * profile of the server counting a stream of events spent two fifths of its time there, in
     * the `_id` lookups of guarded updates. Here keys are compared value by value, and stored in a
     * small encoding of their own.
     *
     * <p>Only equality has to agree with the library's (KeyValue.equals: the values' own equals):
     * it finds index entries by their exact key and never reads an index in key order. Values of
     * one Comparable class compare by their order; values of different classes by class name;
     * other values (documents, arrays, binary) by their BSON encoding once equals says they differ.
     */
    static final class KeyValueType extends BasicDataType<KeyValue> {
        static final KeyValueType INSTANCE = new KeyValueType();
        static final byte VALUES = 0;
        /** A key holding a value the encoding below does not carry (a document, an ObjectId, ...). */
        static final byte SERIALIZED = 1;
        private static final ObjectDataType SERIALIZATION = new ObjectDataType();

        @Override
        public int compare(KeyValue a, KeyValue b) {
            if (a == b) {
                return 0;
            }
            int size = Math.min(a.size(), b.size());
            for (int i = 0; i < size; i++) {
                int order = compareValues(a.get(i), b.get(i));
                if (order != 0) {
                    return order;
                }
            }
            return Integer.compare(a.size(), b.size());
        }

        /**
         * null, then Comparable values (by class name, then their order), then the rest: equal if
         * `equals` says so, else by their BSON encoding (Java serialization for what BSON cannot
         * carry), where equal bytes are equal keys, as they were when H2 compared serialized keys.
         */
        @SuppressWarnings("unchecked")
        static int compareValues(Object a, Object b) {
            if (a == b) {
                return 0;
            }
            int byKind = Integer.compare(kind(a), kind(b));
            if (byKind != 0 || a == null) {
                return byKind;
            }
            if (a instanceof Comparable) {
                int byClass = a.getClass() == b.getClass() ? 0 : a.getClass().getName().compareTo(b.getClass().getName());
                return byClass != 0 ? byClass : ((Comparable<Object>) a).compareTo(b);
            }
            if (a.equals(b)) {
                return 0;
            }
            return java.util.Arrays.compare(encoded(a), encoded(b)); // equal bytes: equal, as H2 compared them
        }

        private static int kind(Object value) {
            return value == null ? 0 : value instanceof Comparable ? 1 : 2;
        }

        private static byte[] encoded(Object value) {
            ByteBuf bytes = Unpooled.buffer(64);
            try {
                BsonEncoder.encodeDocument(new Document("v", value), bytes);
                byte[] out = new byte[bytes.readableBytes()];
                bytes.readBytes(out);
                return out;
            } catch (IllegalArgumentException unencodable) {
                return ObjectDataType.serialize(value);
            } finally {
                bytes.release();
            }
        }

        @Override
        public int getMemory(KeyValue key) {
            int memory = 48;
            for (Object value : key) {
                memory += 16 + (value instanceof String text ? 2 * text.length() : 16);
            }
            return memory;
        }

        /** Strings, numbers, booleans and null by a tag each; anything else by Java serialization. */
        @Override
        public void write(WriteBuffer buffer, KeyValue key) {
            for (Object value : key) {
                if (value != null && !(value instanceof String || value instanceof Integer || value instanceof Long
                    || value instanceof Double || value instanceof Boolean)) {
                    buffer.put(SERIALIZED);
                    SERIALIZATION.write(buffer, key);
                    return;
                }
            }
            buffer.put(VALUES).putVarInt(key.size());
            for (Object value : key) {
                if (value == null) {
                    buffer.put((byte) 'n');
                } else if (value instanceof String text) {
                    buffer.put((byte) 's').putVarInt(text.length()).putStringData(text, text.length());
                } else if (value instanceof Integer number) {
                    buffer.put((byte) 'i').putInt(number);
                } else if (value instanceof Long number) {
                    buffer.put((byte) 'l').putLong(number);
                } else if (value instanceof Double number) {
                    buffer.put((byte) 'd').putDouble(number);
                } else {
                    buffer.put((byte) ((Boolean) value ? 't' : 'f'));
                }
            }
        }

        @Override
        public KeyValue read(ByteBuffer buffer) {
            if (buffer.get() == SERIALIZED) {
                return (KeyValue) SERIALIZATION.read(buffer);
            }
            int size = org.h2.mvstore.DataUtils.readVarInt(buffer);
            Object[] values = new Object[size];
            for (int i = 0; i < size; i++) {
                byte tag = buffer.get();
                values[i] = switch (tag) {
                    case 'n' -> null;
                    case 's' -> org.h2.mvstore.DataUtils.readString(buffer, org.h2.mvstore.DataUtils.readVarInt(buffer));
                    case 'i' -> buffer.getInt();
                    case 'l' -> buffer.getLong();
                    case 'd' -> buffer.getDouble();
                    case 't' -> Boolean.TRUE;
                    case 'f' -> Boolean.FALSE;
                    default -> throw new IllegalStateException("unknown index key tag " + tag);
                };
            }
            return new KeyValue(java.util.Arrays.asList(values));
        }

        @Override
        public KeyValue[] createStorage(int size) {
            return new KeyValue[size];
        }
    }

    /** The maps of unique indexes are named `<database>.<collection>._index_<index>` (H2Database's own). */
    static final String INDEX_INFIX = "._index_";

    static MVMap.Builder<KeyValue, Object> indexEntries() {
        return new MVMap.Builder<KeyValue, Object>().keyType(KeyValueType.INSTANCE);
    }

    /** H2UniqueIndex's constructor is package-private: the index is the library's, only its map is ours. */
    static final java.lang.reflect.Constructor<H2UniqueIndex> UNIQUE_INDEX;

    static {
        try {
            UNIQUE_INDEX = H2UniqueIndex.class.getDeclaredConstructor(MVMap.class, String.class, List.class,
                boolean.class);
            UNIQUE_INDEX.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    static MVMap.Builder<Object, Document> documents() {
        return new MVMap.Builder<Object, Document>().valueType(new BsonDocumentType()); // one per collection
    }

    static final String FORMAT = "crmhub.format";

    /**
     * A store written before documents were BSON holds them Java-serialized: each collection is
     * rewritten once, at start, before the server listens. One collection per commit, each marked
     * done in the same commit, so a crash midway leaves every collection readable and the next
     * start goes on where this one stopped.
     */
    static void storeDocumentsAsBson(MVStore store) {
        rewriteMaps(store, "documents", "bson", ".bson", name -> name.startsWith("databases."), documents(),
            (name, count) -> "stored " + count + " documents of " + name.substring("databases.".length()) + " as BSON");
    }

    /**
     * Every map `chosen` picks is copied, once, into a map of the new types (`builder`), which
     * then takes its name: one map per commit, marked `format` in `crmhub.format` in the same
     * commit, so a crash midway leaves every map readable and the next start goes on where this
     * one stopped; `kind` marked `format` once all are done.
     */
    @SuppressWarnings("unchecked")
    static <K, V> void rewriteMaps(MVStore store, String kind, String format, String suffix,
                                   java.util.function.Predicate<String> chosen, MVMap.Builder<K, V> builder,
                                   java.util.function.BiFunction<String, Long, String> done) {
        MVMap<String, String> formats = store.openMap(FORMAT);
        if (format.equals(formats.get(kind))) {
            return;
        }
        for (String name : new ArrayList<>(store.getMapNames())) {
            if (!chosen.test(name) || name.endsWith(suffix) || format.equals(formats.get(name))) {
                continue;
            }
            MVMap<Object, Object> legacy = store.openMap(name);
            MVMap<K, V> converted = store.openMap(name + suffix, builder);
            converted.clear();
            for (Map.Entry<Object, Object> entry : legacy.entrySet()) {
                converted.put((K) entry.getKey(), (V) entry.getValue());
            }
            long count = converted.sizeAsLong();
            store.removeMap(legacy);
            store.renameMap(converted, name);
            formats.put(name, format);
            store.commit();
            System.out.println(done.apply(name, count));
        }
        formats.put(kind, format);
        store.commit();
    }

    /**
     * A store written before unique indexes had {@link KeyValueType} holds their keys
     * Java-serialized, in the order of their serialized bytes: each index map is rewritten once,
     * at start, like the documents above (one index per commit, marked done in it).
     */
    static void storeIndexKeysAsValues(MVStore store) {
        rewriteMaps(store, "index-keys", "values", ".keys",
            name -> name.contains(INDEX_INFIX) && !name.startsWith("databases.") && !name.startsWith("meta."),
            indexEntries(), (name, count) -> "stored " + count + " keys of the index " + name + " as values");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: WireServer FILE HOST PORT");
            System.exit(2);
        }
        // H2 rewrites chunks until each is 90 % full by default: under a steady stream of small
        // updates that re-encodes live pages again and again, more as the file grows. At 50 % the
        // file may hold up to twice its live data, and the 30-minute soak's p99 grew less
        // (docs/BENCHMARKS.md).
        MVStore store = new MVStore.Builder().fileName(args[0]).autoCompactFillRate(50).open();
        // Old chunks are kept only briefly: with a commit per group of writes, the default 45 s of
        // retention would grow the file by every chunk of the last 45 s. The process is what a
        // kill -9 ends; the operating system still writes out what it was given.
        store.setRetentionTime(1000);
        storeDocumentsAsBson(store);
        storeIndexKeysAsValues(store);
        MongoServer server = new MongoServer(new DurableBackend(store).version(Reported.MONGO_5_0));
        // Writers wait for their commit on the event loop thread: enough loops that the others
        // keep serving meanwhile.
        server.bind(new java.net.InetSocketAddress(args[1], Integer.parseInt(args[2])), 1, 32);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
        System.out.println("listening on " + args[1] + ":" + args[2] + ", data in " + args[0]);
        Thread.currentThread().join();
    }
}
