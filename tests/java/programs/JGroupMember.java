import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a consumer group (the Java consumer, subscribed), driven over stdin and
 * reporting over stdout as JSON lines, so a test can run several and watch them rebalance.
 *
 * <p>Usage: {@code JGroupMember <bootstrap> <group> <topic,...> [key=value ...]} (consumer
 * configs). Each event carries {@code ms}, the wall clock when it happened. Events: {@code ready}, {@code assigned}/{@code revoked}/{@code lost} (the listener's
 * partitions), {@code assignment} (the whole assignment whenever it changes), {@code record},
 * {@code committed}, {@code error}, {@code closed}. Commands on stdin: {@code commit} (commitSync
 * of what was consumed), {@code quit} (close and exit). End of input means quit.
 */
public class JGroupMember {
    static final ObjectMapper JSON = new ObjectMapper();

    static synchronized void emit(String event, Map<String, Object> fields) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("event", event);
        line.put("ms", System.currentTimeMillis());
        line.putAll(fields);
        try {
            System.out.println(JSON.writeValueAsString(line));
            System.out.flush();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static List<String> names(Collection<TopicPartition> tps) {
        TreeSet<String> sorted = new TreeSet<>();
        for (TopicPartition tp : tps) sorted.add(tp.toString());
        return new ArrayList<>(sorted);
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("group.id", args[1]);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        for (int a = 3; a < args.length; a++) {
            String[] kv = args[a].split("=", 2);
            props.put(kv[0], kv[1]);
        }
        ConcurrentLinkedQueue<String> commands = new ConcurrentLinkedQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
                String line;
                while ((line = in.readLine()) != null) commands.add(line.trim());
            } catch (Exception e) {
                // fall through: end of input
            }
            commands.add("quit");
        });
        reader.setDaemon(true);
        reader.start();
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        try {
            consumer.subscribe(List.of(args[2].split(",")), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    emit("revoked", Map.of("partitions", names(tps)));
                }

                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    emit("assigned", Map.of("partitions", names(tps)));
                }

                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    emit("lost", Map.of("partitions", names(tps)));
                }
            });
            emit("ready", Map.of());
            List<String> last = null;
            boolean running = true;
            while (running) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                    emit("record", Map.of("partition", r.partition(), "offset", r.offset(),
                        "value", r.value() == null ? "" : r.value()));
                }
                List<String> now = names(consumer.assignment());
                if (!now.equals(last)) {
                    emit("assignment", Map.of("partitions", now));
                    last = now;
                }
                String cmd;
                while ((cmd = commands.poll()) != null) {
                    if (cmd.equals("commit")) {
                        consumer.commitSync();
                        Map<String, Object> offsets = new LinkedHashMap<>();
                        consumer.committed(consumer.assignment()).forEach((tp, om) ->
                            offsets.put(tp.toString(), om == null ? null : om.offset()));
                        emit("committed", Map.of("offsets", offsets));
                    } else if (cmd.equals("quit")) {
                        running = false;
                    }
                }
            }
        } catch (Exception e) {
            emit("error", Map.of("type", e.getClass().getName(), "message", String.valueOf(e.getMessage())));
        } finally {
            consumer.close(Duration.ofSeconds(10));
            emit("closed", Map.of());
        }
    }
}
