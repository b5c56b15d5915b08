import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Aggregator;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindowedKStream;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StateStore;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.DslKeyValueParams;
import org.apache.kafka.streams.state.DslSessionParams;
import org.apache.kafka.streams.state.DslStoreSuppliers;
import org.apache.kafka.streams.state.DslWindowParams;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;
import org.apache.kafka.streams.state.SessionBytesStoreSupplier;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowBytesStoreSupplier;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.internals.RocksDbSessionBytesStoreSupplier;
import org.apache.kafka.streams.state.internals.RocksDbWindowBytesStoreSupplier;
import org.apache.kafka.streams.test.TestRecord;

/**
 * The reference side of e2e/streams_diff_test.go: runs event sets through a
 * windowed count and sum of the real Kafka Streams DSL (TopologyTestDriver,
 * no broker) and writes what it emitted and which records it dropped.
 *
 * <p>Input (a file named by the first argument, or stdin): one JSON object
 * {"cases": [CASE, ...]} (or a bare array, or one CASE), where
 *
 * <pre>
 * CASE = {"name": "...",
 *         "window": {"type": "tumbling|hopping|session|sliding",
 *                    "size": ms, "advance": ms, "gap": ms, "grace": ms},
 *         "stores": "rocksdb" (the default) | "rocksdb-default" | "memory",
 *         "events": [["key", value, timestampMs], ...]}
 * </pre>
 *
 * A sliding window's "size" is its time difference. One topology per case:
 *
 * <pre>
 * W = stream.groupByKey().windowedBy(window)
 * count = W.count(),  sum = W.aggregate(() -> 0L, (k, v, agg) -> agg + v [, session merger])
 * for each of them:
 *   .toStream()                                                 → mode "changelog"
 *   .suppress(Suppressed.untilWindowCloses(unbounded())).toStream() → mode "final"
 * </pre>
 *
 * Caching is off ({@code statestore.cache.max.bytes=0} and
 * {@code Materialized.withCachingDisabled()}), so the changelog holds every
 * update, tombstones included.
 *
 * <p>Stores: the DSL's own choice, RocksDB, in every mode. Two things make
 * them slow under TopologyTestDriver, which commits after every record: a
 * commit flushes each store's memtable to a new file (about a millisecond a
 * record), and a segmented store opens a new RocksDB instance for every
 * segment (a minute of event time, at least) that stream time enters, a few
 * tens of milliseconds each. With "rocksdb" (the default) the stores are the
 * DSL's RocksDB stores, made by the suppliers of the classes the DSL picks,
 * with the retention, window size and duplicate handling it chose, but with
 * segments of ten minutes (at least) and flush() deferred to close. Neither
 * changes what a read sees: a store filters what it returns by its retention,
 * not by segment, and every record the DSL's processors put is within
 * retention, so it lands in a live segment either way. The test checks this
 * on every run (the hand-written sets and prefixes of two generated ones
 * also run with "rocksdb-default", the DSL's stores untouched, and must give
 * the same output), and STREAMS_DIFF_STORES=rocksdb-default runs everything
 * that way. "memory" takes the DSL's in-memory stores, which differ: a
 * session put at exactly the end of retention is dropped (and counted in
 * dropped-records-total) by the in-memory store and kept by RocksDB.
 *
 * <p>Output, JSON lines on stdout:
 *
 * <pre>
 * {"case":N,"type":"result","op":"count|sum","mode":"changelog|final","key":K,"start":S,"end":E,
 *  "value":V|null,"ts":T,"after":I}
 *     an output record (value null: a tombstone), emitted while event I was piped in
 * {"case":N,"type":"event","i":I,"dropped":D,"updates":U}
 *     event I grew the task metric dropped-records-total by D (both aggregations
 *     and their stores count there) or called the sum's aggregator U == 0 times;
 *     written when D &gt; 0 or U == 0
 * {"case":N,"type":"done","events":C,"results":R,"ms":M,"cpuMs":U}   (the driver's wall and CPU time)
 * {"case":N,"type":"error","message":"..."}
 * </pre>
 *
 * State lives under a temporary directory (in /dev/shm when there is one),
 * removed at exit.
 */
public final class StreamsReference {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String IN = "in";
    private static final String[] OPS = {"count", "sum"};
    private static final String[] MODES = {"changelog", "final"};

    private StreamsReference() {
    }

    public static void main(final String[] args) throws Exception {
        final JsonNode root;
        try (InputStream in = args.length > 0 ? Files.newInputStream(Paths.get(args[0])) : System.in) {
            root = MAPPER.readTree(in);
        }
        final List<JsonNode> cases = new ArrayList<>();
        if (root.isArray()) {
            root.forEach(cases::add);
        } else if (root.has("cases")) {
            root.get("cases").forEach(cases::add);
        } else {
            cases.add(root);
        }
        final Path shm = Paths.get("/dev/shm");
        final Path stateRoot = Files.isDirectory(shm) && Files.isWritable(shm)
            ? Files.createTempDirectory(shm, "pipeline-e2e-streams-")
            : Files.createTempDirectory("pipeline-e2e-streams-");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(stateRoot)));
        boolean failed = false;
        try (OutputStream os = new BufferedOutputStream(System.out, 1 << 16);
             JsonGenerator out = MAPPER.getFactory().createGenerator(os, JsonEncoding.UTF8)) {
            out.setRootValueSeparator(null);
            int n = 0;
            for (final JsonNode c : cases) {
                final String name = c.path("name").asText("case" + n);
                final Path dir = stateRoot.resolve(Integer.toString(n++));
                try {
                    runCase(c, name, dir, out);
                } catch (final Exception e) {
                    failed = true;
                    out.writeStartObject();
                    out.writeStringField("case", name);
                    out.writeStringField("type", "error");
                    out.writeStringField("message", e.toString());
                    out.writeEndObject();
                    out.writeRaw('\n');
                } finally {
                    deleteTree(dir);
                }
                out.flush();
            }
        } finally {
            deleteTree(stateRoot);
        }
        System.exit(failed ? 1 : 0);
    }

    private static Duration millis(final JsonNode window, final String field) {
        final JsonNode v = window.get(field);
        if (v == null || !v.canConvertToLong()) {
            throw new IllegalArgumentException("window." + field + " is missing (milliseconds)");
        }
        return Duration.ofMillis(v.asLong());
    }

    private static String topic(final String op, final String mode) {
        return op + "-" + mode;
    }

    /** Builds the topology of one case. */
    private static Topology topology(final JsonNode window, final String stores, final AtomicLong updates) {
        final DslStoreSuppliers suppliers;
        switch (stores) {
            case "rocksdb":
                suppliers = new DeferredFlushStores();
                break;
            case "rocksdb-default":
                suppliers = new BuiltInDslStoreSuppliers.RocksDBDslStoreSuppliers();
                break;
            case "memory":
                suppliers = new BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers();
                break;
            default:
                throw new IllegalArgumentException("unknown stores " + stores + " (rocksdb, rocksdb-default or memory)");
        }
        final StreamsBuilder builder = new StreamsBuilder();
        final KGroupedStream<String, Long> grouped = builder
            .stream(IN, Consumed.with(Serdes.String(), Serdes.Long()))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()));
        final Aggregator<String, Long, Long> add = (k, v, agg) -> {
            updates.incrementAndGet();
            return agg + v;
        };
        final String type = window.path("type").asText();
        final Duration grace = window.has("grace") ? millis(window, "grace") : Duration.ZERO;
        final KTable<Windowed<String>, Long> count;
        final KTable<Windowed<String>, Long> sum;
        switch (type) {
            case "tumbling":
            case "hopping":
            case "sliding": {
                final TimeWindowedKStream<String, Long> w;
                if (type.equals("sliding")) {
                    w = grouped.windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(millis(window, "size"), grace));
                } else {
                    TimeWindows tw = TimeWindows.ofSizeAndGrace(millis(window, "size"), grace);
                    if (type.equals("hopping")) {
                        tw = tw.advanceBy(millis(window, "advance"));
                    }
                    w = grouped.windowedBy(tw);
                }
                count = w.count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                    .withCachingDisabled().withStoreType(suppliers));
                sum = w.aggregate(() -> 0L, add,
                    Materialized.<String, Long, WindowStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                        .withCachingDisabled().withStoreType(suppliers));
                break;
            }
            case "session": {
                final SessionWindowedKStream<String, Long> w =
                    grouped.windowedBy(SessionWindows.ofInactivityGapAndGrace(millis(window, "gap"), grace));
                count = w.count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                    .withCachingDisabled().withStoreType(suppliers));
                sum = w.aggregate(() -> 0L, add, (k, a, b) -> a + b,
                    Materialized.<String, Long, SessionStore<Bytes, byte[]>>with(Serdes.String(), Serdes.Long())
                        .withCachingDisabled().withStoreType(suppliers));
                break;
            }
            default:
                throw new IllegalArgumentException("unknown window type " + type);
        }
        for (final String op : OPS) {
            final KTable<Windowed<String>, Long> table = op.equals("count") ? count : sum;
            for (final String mode : MODES) {
                final KTable<Windowed<String>, Long> emitted = mode.equals("final")
                    ? table.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                    : table;
                // The output key carries the window: "start end key" (the key
                // last, so that it may hold spaces).
                emitted.toStream()
                    .map((wk, v) -> KeyValue.pair(wk.window().start() + " " + wk.window().end() + " " + wk.key(), v))
                    .to(topic(op, mode), Produced.with(Serdes.String(), Serdes.Long()));
            }
        }
        return builder.build();
    }

    private static void runCase(final JsonNode c, final String name, final Path dir, final JsonGenerator out)
        throws IOException {
        final long began = System.nanoTime();
        final long cpuBegan = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        final AtomicLong updates = new AtomicLong();
        final Topology topology = topology(c.path("window"), c.path("stores").asText("rocksdb"), updates);
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "pipeline-e2e-streams");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        final JsonNode events = c.path("events");
        int results = 0;
        try (TopologyTestDriver driver = new TopologyTestDriver(topology, props)) {
            final List<Metric> dropped = new ArrayList<>();
            for (final Map.Entry<MetricName, ? extends Metric> e : driver.metrics().entrySet()) {
                if (e.getKey().name().equals("dropped-records-total")
                    && e.getKey().group().equals("stream-task-metrics")) {
                    dropped.add(e.getValue());
                }
            }
            if (dropped.isEmpty()) {
                throw new IllegalStateException("no task-level metric dropped-records-total");
            }
            final TestInputTopic<String, Long> in =
                driver.createInputTopic(IN, Serdes.String().serializer(), Serdes.Long().serializer());
            final List<TestOutputTopic<String, Long>> outputs = new ArrayList<>();
            for (final String op : OPS) {
                for (final String mode : MODES) {
                    outputs.add(driver.createOutputTopic(topic(op, mode), Serdes.String().deserializer(), Serdes.Long().deserializer()));
                }
            }
            for (int i = 0; i < events.size(); i++) {
                final JsonNode ev = events.get(i);
                final long before = total(dropped);
                final long u0 = updates.get();
                in.pipeInput(ev.get(0).asText(), ev.get(1).asLong(), Instant.ofEpochMilli(ev.get(2).asLong()));
                final long d = total(dropped) - before;
                final long u = updates.get() - u0;
                int o = 0;
                for (final String op : OPS) {
                    for (final String mode : MODES) {
                        for (final TestRecord<String, Long> r : outputs.get(o).readRecordsToList()) {
                            final String[] parts = r.key().split(" ", 3);
                            out.writeStartObject();
                            out.writeStringField("case", name);
                            out.writeStringField("type", "result");
                            out.writeStringField("op", op);
                            out.writeStringField("mode", mode);
                            out.writeStringField("key", parts[2]);
                            out.writeNumberField("start", Long.parseLong(parts[0]));
                            out.writeNumberField("end", Long.parseLong(parts[1]));
                            if (r.value() == null) {
                                out.writeNullField("value");
                            } else {
                                out.writeNumberField("value", r.value());
                            }
                            out.writeNumberField("ts", r.timestamp());
                            out.writeNumberField("after", i);
                            out.writeEndObject();
                            out.writeRaw('\n');
                            results++;
                        }
                        o++;
                    }
                }
                if (d != 0 || u == 0) {
                    out.writeStartObject();
                    out.writeStringField("case", name);
                    out.writeStringField("type", "event");
                    out.writeNumberField("i", i);
                    out.writeNumberField("dropped", d);
                    out.writeNumberField("updates", u);
                    out.writeEndObject();
                    out.writeRaw('\n');
                }
            }
        }
        out.writeStartObject();
        out.writeStringField("case", name);
        out.writeStringField("type", "done");
        out.writeNumberField("events", events.size());
        out.writeNumberField("results", results);
        out.writeNumberField("ms", (System.nanoTime() - began) / 1_000_000);
        out.writeNumberField("cpuMs", (java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - cpuBegan) / 1_000_000);
        out.writeEndObject();
        out.writeRaw('\n');
    }

    private static long total(final List<Metric> metrics) {
        double sum = 0;
        for (final Metric m : metrics) {
            sum += ((Number) m.metricValue()).doubleValue();
        }
        return Math.round(sum);
    }

    static void deleteTree(final Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (final IOException e) {
            // best effort: a temporary directory
        }
    }

    /**
     * The DSL's RocksDB stores, with segments of ten minutes, behind a proxy that
     * defers flush() to close(). The suppliers are those the DSL picks
     * (checked), made again with its parameters and another segment interval.
     */
    static final class DeferredFlushStores implements DslStoreSuppliers {
        private static final long SEGMENT_MS = 600_000L;
        private final DslStoreSuppliers rocksdb = new BuiltInDslStoreSuppliers.RocksDBDslStoreSuppliers();

        @Override
        public KeyValueBytesStoreSupplier keyValueStore(final DslKeyValueParams params) {
            return rocksdb.keyValueStore(params);
        }

        @Override
        public WindowBytesStoreSupplier windowStore(final DslWindowParams params) {
            final WindowBytesStoreSupplier dsl = rocksdb.windowStore(params);
            if (!(dsl instanceof RocksDbWindowBytesStoreSupplier)) {
                throw new IllegalStateException("the DSL chose a window store supplier " + dsl.getClass().getName());
            }
            final WindowBytesStoreSupplier s = new RocksDbWindowBytesStoreSupplier(dsl.name(), dsl.retentionPeriod(),
                Math.max(SEGMENT_MS, dsl.segmentIntervalMs()), dsl.windowSize(), dsl.retainDuplicates(), params.isTimestamped());
            return new WindowBytesStoreSupplier() {
                @Override
                public String name() {
                    return s.name();
                }

                @Override
                public WindowStore<Bytes, byte[]> get() {
                    return deferFlush(s.get());
                }

                @Override
                public String metricsScope() {
                    return s.metricsScope();
                }

                @Override
                public long segmentIntervalMs() {
                    return s.segmentIntervalMs();
                }

                @Override
                public long windowSize() {
                    return s.windowSize();
                }

                @Override
                public boolean retainDuplicates() {
                    return s.retainDuplicates();
                }

                @Override
                public long retentionPeriod() {
                    return s.retentionPeriod();
                }
            };
        }

        @Override
        public SessionBytesStoreSupplier sessionStore(final DslSessionParams params) {
            final SessionBytesStoreSupplier dsl = rocksdb.sessionStore(params);
            if (dsl.getClass() != RocksDbSessionBytesStoreSupplier.class) {
                throw new IllegalStateException("the DSL chose a session store supplier " + dsl.getClass().getName());
            }
            final SessionBytesStoreSupplier s = new RocksDbSessionBytesStoreSupplier(dsl.name(), dsl.retentionPeriod()) {
                @Override
                public long segmentIntervalMs() {
                    return Math.max(SEGMENT_MS, dsl.segmentIntervalMs());
                }
            };
            return new SessionBytesStoreSupplier() {
                @Override
                public String name() {
                    return s.name();
                }

                @Override
                public SessionStore<Bytes, byte[]> get() {
                    return deferFlush(s.get());
                }

                @Override
                public String metricsScope() {
                    return s.metricsScope();
                }

                @Override
                public long segmentIntervalMs() {
                    return s.segmentIntervalMs();
                }

                @Override
                public long retentionPeriod() {
                    return s.retentionPeriod();
                }
            };
        }

        /** A proxy with every interface of the store (TimestampedBytesStore too). */
        @SuppressWarnings("unchecked")
        private static <S extends StateStore> S deferFlush(final S store) {
            final Set<Class<?>> interfaces = new LinkedHashSet<>();
            for (Class<?> k = store.getClass(); k != null; k = k.getSuperclass()) {
                collect(k, interfaces);
            }
            final InvocationHandler h = (proxy, method, args) -> {
                if (method.getName().equals("flush") && method.getParameterCount() == 0) {
                    return null;
                }
                if (method.getName().equals("close") && method.getParameterCount() == 0) {
                    store.flush();
                }
                try {
                    return method.invoke(store, args);
                } catch (final InvocationTargetException e) {
                    throw e.getCause();
                }
            };
            return (S) Proxy.newProxyInstance(StreamsReference.class.getClassLoader(), interfaces.toArray(new Class<?>[0]), h);
        }

        private static void collect(final Class<?> k, final Set<Class<?>> into) {
            for (final Class<?> i : k.getInterfaces()) {
                if (into.add(i)) {
                    collect(i, into);
                }
            }
        }
    }
}
