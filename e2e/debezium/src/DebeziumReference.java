import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Debezium as a reference for the CDC inputs (e2e/debezium_test.go): runs one
 * connector in Debezium's embedded engine, with the JSON converter and no
 * schemas, and prints each change event as one line, "key TAB value" (an empty
 * value is a tombstone), until it printed as many as asked.
 *
 *   java DebeziumReference CONNECTOR.properties EVENTS TIMEOUT_SECONDS
 *
 * Exit status 2: fewer events came within the timeout.
 */
public class DebeziumReference {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        int want = Integer.parseInt(args[1]);
        long timeout = Long.parseLong(args[2]);
        CountDownLatch events = new CountDownLatch(want);
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        ExecutorService runner = Executors.newSingleThreadExecutor();
        try (DebeziumEngine<ChangeEvent<String, String>> engine = DebeziumEngine.create(Json.class)
                .using(props)
                .notifying(event -> {
                    synchronized (out) {
                        out.println((event.key() == null ? "" : event.key()) + "\t" + (event.value() == null ? "" : event.value()));
                    }
                    events.countDown();
                })
                .build()) {
            runner.execute(engine);
            if (!events.await(timeout, TimeUnit.SECONDS)) {
                System.err.println("DebeziumReference: " + events.getCount() + " of " + want + " events did not come within " + timeout + "s");
                System.exit(2);
            }
        }
        runner.shutdownNow();
        System.exit(0);
    }
}
