import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The client features a broker may not serve, each given 20 s to fail: a transactional producer
 * ({@code initTransactions}) and a consumer of the KIP-848 group protocol
 * ({@code group.protocol=consumer}). Prints one JSON line per feature: the exception (class,
 * message, and its cause's class) and how long it took, or {@code "ok": true}.
 *
 * <p>Usage: {@code JUnservedClients <bootstrap> <topic>}.
 */
public class JUnservedClients {
    static final ObjectMapper JSON = new ObjectMapper();

    static void report(String feature, long start, Throwable t) throws Exception {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("feature", feature);
        line.put("ok", t == null);
        if (t != null) {
            line.put("error", t.getClass().getSimpleName());
            line.put("message", String.valueOf(t.getMessage()));
            line.put("cause", t.getCause() == null ? null : t.getCause().getClass().getSimpleName());
        }
        line.put("ms", (System.nanoTime() - start) / 1_000_000);
        System.out.println(JSON.writeValueAsString(line));
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        Properties pp = new Properties();
        pp.put("bootstrap.servers", args[0]);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("transactional.id", args[1] + "-txn");
        pp.put("max.block.ms", "20000");
        long start = System.nanoTime();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            producer.initTransactions();
            report("transactions", start, null);
        } catch (Exception e) {
            report("transactions", start, e);
        }

        Properties cp = new Properties();
        cp.put("bootstrap.servers", args[0]);
        cp.put("group.id", args[1] + "-kip848");
        cp.put("group.protocol", "consumer");
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        start = System.nanoTime();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(List.of(args[1]));
            long deadline = System.currentTimeMillis() + 20000;
            while (System.currentTimeMillis() < deadline) consumer.poll(Duration.ofMillis(200));
            report("group.protocol=consumer", start, null);
        } catch (Exception e) {
            report("group.protocol=consumer", start, e);
        }
    }
}
