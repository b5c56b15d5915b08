import java.io.BufferedOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.test.TestRecord;

/**
 * The reference side of e2e/streams_join_diff_test.go: runs event sets
 * through a join of the real Kafka Streams DSL (TopologyTestDriver, no
 * broker) and writes what it emitted: stream–stream, stream–table or
 * table–table, as each case's kind says.
 *
 * <p>Input (a file named by the first argument, or stdin):
 *
 * <pre>
 * {"cases": [{"name": "...", "kind": "stream_stream|stream_table|table_table", "type": "inner|left|outer",
 *             "before": ms, "after": ms, "grace": ms,
 *             "events": [["L"|"R", key|null, value|null, timestampMs], ...]}, ...]}
 * </pre>
 *
 * One topology per case: left.join|leftJoin|outerJoin(right, joiner,
 * JoinWindows.ofTimeDifferenceAndGrace(after, grace).before(before).after(after)),
 * where the joiner writes "l|r", "-" for a missing side; for stream_table
 * left.join|leftJoin(builder.table(right)), for table_table
 * builder.table(left).join|leftJoin|outerJoin(builder.table(right)).toStream()
 * (a tombstone result is written with value null). Events are piped
 * one by one, each with its own timestamp, into the topic of its side. The
 * outer-join emit interval is set to 0, so that unmatched results are
 * emitted by the first record that may emit them rather than at most once a
 * second of wall-clock time (which TopologyTestDriver's clock never
 * advances).
 *
 * <p>Output, JSON lines on stdout:
 *
 * <pre>
 * {"case":N,"type":"result","key":K|null,"value":V,"ts":T,"after":I}   emitted while event I was piped in
 * {"case":N,"type":"done","events":C,"results":R,"ms":M}
 * {"case":N,"type":"error","message":"..."}
 * </pre>
 */
public final class StreamsJoinReference {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private StreamsJoinReference() {
    }

    public static void main(final String[] args) throws Exception {
        final JsonNode root;
        try (InputStream in = args.length > 0 ? Files.newInputStream(Paths.get(args[0])) : System.in) {
            root = MAPPER.readTree(in);
        }
        final Path shm = Paths.get("/dev/shm");
        final Path stateRoot = Files.isDirectory(shm) && Files.isWritable(shm)
            ? Files.createTempDirectory(shm, "pipeline-e2e-streams-join-")
            : Files.createTempDirectory("pipeline-e2e-streams-join-");
        boolean failed = false;
        try (OutputStream os = new BufferedOutputStream(System.out, 1 << 16);
             JsonGenerator out = MAPPER.getFactory().createGenerator(os, JsonEncoding.UTF8)) {
            out.setRootValueSeparator(null);
            int n = 0;
            for (final JsonNode c : root.get("cases")) {
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
                }
                out.flush();
            }
        } finally {
            StreamsReference.deleteTree(stateRoot);
        }
        System.exit(failed ? 1 : 0);
    }

    private static void runCase(final JsonNode c, final String name, final Path dir, final JsonGenerator out) throws Exception {
        final long began = System.nanoTime();
        final StreamsBuilder builder = new StreamsBuilder();
        final ValueJoiner<String, String, String> joiner = (l, r) -> (l == null ? "-" : l) + "|" + (r == null ? "-" : r);
        final String type = c.get("type").asText();
        final KStream<String, String> joined;
        switch (c.path("kind").asText("stream_stream")) {
            case "stream_stream":
                joined = streamStream(builder, c, type, joiner);
                break;
            case "stream_table":
                joined = streamTable(builder, type, joiner);
                break;
            case "table_table":
                joined = tableTable(builder, type, joiner);
                break;
            default:
                throw new IllegalArgumentException("unknown join kind " + c.get("kind"));
        }
        joined.to("out", Produced.with(Serdes.String(), Serdes.String()));

        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "join-" + name.replaceAll("[^A-Za-z0-9._-]", "-"));
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        props.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_OUTER_JOIN_SPURIOUS_RESULTS_FIX, 0L);
        int results = 0;
        int i = 0;
        try (TopologyTestDriver driver = new TopologyTestDriver(builder.build(), props)) {
            final TestInputTopic<String, String> leftIn = driver.createInputTopic("left", Serdes.String().serializer(), Serdes.String().serializer());
            final TestInputTopic<String, String> rightIn = driver.createInputTopic("right", Serdes.String().serializer(), Serdes.String().serializer());
            final TestOutputTopic<String, String> outTopic = driver.createOutputTopic("out", Serdes.String().deserializer(), Serdes.String().deserializer());
            for (final JsonNode e : c.get("events")) {
                final String key = e.get(1).isNull() ? null : e.get(1).asText();
                final String value = e.get(2).isNull() ? null : e.get(2).asText();
                final TestRecord<String, String> rec = new TestRecord<>(key, value, Instant.ofEpochMilli(e.get(3).asLong()));
                ("L".equals(e.get(0).asText()) ? leftIn : rightIn).pipeInput(rec);
                while (!outTopic.isEmpty()) {
                    final TestRecord<String, String> r = outTopic.readRecord();
                    out.writeStartObject();
                    out.writeStringField("case", name);
                    out.writeStringField("type", "result");
                    if (r.key() == null) {
                        out.writeNullField("key");
                    } else {
                        out.writeStringField("key", r.key());
                    }
                    out.writeStringField("value", r.value());
                    out.writeNumberField("ts", r.timestamp());
                    out.writeNumberField("after", i);
                    out.writeEndObject();
                    out.writeRaw('\n');
                    results++;
                }
                i++;
            }
        }
        out.writeStartObject();
        out.writeStringField("case", name);
        out.writeStringField("type", "done");
        out.writeNumberField("events", i);
        out.writeNumberField("results", results);
        out.writeNumberField("ms", (System.nanoTime() - began) / 1_000_000);
        out.writeEndObject();
        out.writeRaw('\n');
    }

    private static KStream<String, String> streamStream(final StreamsBuilder builder, final JsonNode c, final String type,
                                                        final ValueJoiner<String, String, String> joiner) {
        final KStream<String, String> left = builder.stream("left", Consumed.with(Serdes.String(), Serdes.String()));
        final KStream<String, String> right = builder.stream("right", Consumed.with(Serdes.String(), Serdes.String()));
        final JoinWindows windows = JoinWindows
            .ofTimeDifferenceAndGrace(Duration.ofMillis(c.get("after").asLong()), Duration.ofMillis(c.get("grace").asLong()))
            .before(Duration.ofMillis(c.get("before").asLong()))
            .after(Duration.ofMillis(c.get("after").asLong()));
        final StreamJoined<String, String, String> serdes = StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String());
        switch (type) {
            case "inner":
                return left.join(right, joiner, windows, serdes);
            case "left":
                return left.leftJoin(right, joiner, windows, serdes);
            case "outer":
                return left.outerJoin(right, joiner, windows, serdes);
            default:
                throw new IllegalArgumentException("unknown join type " + type);
        }
    }

    private static KStream<String, String> streamTable(final StreamsBuilder builder, final String type,
                                                       final ValueJoiner<String, String, String> joiner) {
        final KStream<String, String> left = builder.stream("left", Consumed.with(Serdes.String(), Serdes.String()));
        final KTable<String, String> right = builder.table("right", Consumed.with(Serdes.String(), Serdes.String()));
        switch (type) {
            case "inner":
                return left.join(right, joiner);
            case "left":
                return left.leftJoin(right, joiner);
            default:
                throw new IllegalArgumentException("a stream-table join is inner or left, not " + type);
        }
    }

    private static KStream<String, String> tableTable(final StreamsBuilder builder, final String type,
                                                      final ValueJoiner<String, String, String> joiner) {
        final KTable<String, String> left = builder.table("left", Consumed.with(Serdes.String(), Serdes.String()));
        final KTable<String, String> right = builder.table("right", Consumed.with(Serdes.String(), Serdes.String()));
        switch (type) {
            case "inner":
                return left.join(right, joiner).toStream();
            case "left":
                return left.leftJoin(right, joiner).toStream();
            case "outer":
                return left.outerJoin(right, joiner).toStream();
            default:
                throw new IllegalArgumentException("unknown join type " + type);
        }
    }
}
