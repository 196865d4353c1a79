import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a whole topic from the beginning with the Java consumer (assigned partitions, no
 * group) until {@code expected} records have arrived or {@code timeoutMs} passed, and prints
 * one JSON line per record and a final {@code {"count": n}}.
 *
 * <p>Usage: {@code JConsume <bootstrap> <topic> <expected> <timeoutMs> [key=value ...]}.
 */
public class JConsume {
    static String text(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        String topic = args[1];
        int expected = Integer.parseInt(args[2]);
        long timeoutMs = Long.parseLong(args[3]);
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        props.put("enable.auto.commit", "false");
        for (int a = 4; a < args.length; a++) {
            String[] kv = args[a].split("=", 2);
            props.put(kv[0], kv[1]);
        }
        int count = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(topic, Duration.ofSeconds(30))) {
                tps.add(new TopicPartition(topic, p.partition()));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (count < expected && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    Map<String, Object> line = new LinkedHashMap<>();
                    line.put("partition", r.partition());
                    line.put("offset", r.offset());
                    line.put("timestamp", r.timestamp());
                    line.put("timestampType", r.timestampType().name);
                    line.put("key", text(r.key()));
                    line.put("value", text(r.value()));
                    List<List<String>> headers = new ArrayList<>();
                    for (Header h : r.headers()) headers.add(java.util.Arrays.asList(h.key(), text(h.value())));
                    line.put("headers", headers);
                    line.put("leaderEpoch", r.leaderEpoch().orElse(null));
                    System.out.println(json.writeValueAsString(line));
                    count++;
                }
            }
        }
        System.out.println(json.writeValueAsString(Map.of("count", count)));
    }
}
