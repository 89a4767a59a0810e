import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;

/**
 * Serves the MongoDB wire protocol on a chosen address, storing data in an H2 MVStore file.
 *
 * <p>Usage: WireServer FILE HOST PORT. Every update of a collection is serialized by the
 * backend, so single-document updates are atomic, which the hub's outbox and idempotent
 * consumers rely on.
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

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: WireServer FILE HOST PORT");
            System.exit(2);
        }
        MongoServer server = new MongoServer(new H2Backend(args[0]).version(Reported.MONGO_5_0));
        server.bind(args[1], Integer.parseInt(args[2]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
        System.out.println("listening on " + args[1] + ":" + args[2] + ", data in " + args[0]);
        Thread.currentThread().join();
    }
}
