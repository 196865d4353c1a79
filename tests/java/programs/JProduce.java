import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces {@code count} records with the Java producer and prints one JSON line per ack.
 *
 * <p>Usage: {@code JProduce <bootstrap> <topic> <count> [key=value ...]}. Arguments of the form
 * {@code key=value} are producer configs, except {@code x.partition} (send every record to this
 * partition; by default the key picks it) and {@code x.value.bytes} (pad each value to this
 * size with compressible text). Record {@code i} has key {@code key-i}, value starting with
 * {@code value-i}, headers {@code seq=i} and {@code empty=} (an empty value) plus a header with a
 * null value, and timestamp {@code 1700000000000 + i}. The producer's own defaults apply to
 * everything not given (so idempotence is on, acks=all).
 */
public class JProduce {
    public static void main(String[] args) throws Exception {
        ObjectMapper json = new ObjectMapper();
        String bootstrap = args[0];
        String topic = args[1];
        int count = Integer.parseInt(args[2]);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        Integer partition = null;
        int valueBytes = 0;
        for (int a = 3; a < args.length; a++) {
            String[] kv = args[a].split("=", 2);
            if (kv[0].equals("x.partition")) partition = Integer.parseInt(kv[1]);
            else if (kv[0].equals("x.value.bytes")) valueBytes = Integer.parseInt(kv[1]);
            else props.put(kv[0], kv[1]);
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                StringBuilder value = new StringBuilder("value-" + i);
                while (value.length() < valueBytes) value.append(" the quick brown fox ").append(i % 7);
                RecordHeaders headers = new RecordHeaders();
                headers.add("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                headers.add("empty", new byte[0]);
                headers.add("nothing", null);
                acks.add(producer.send(new ProducerRecord<>(
                    topic, partition, 1700000000000L + i,
                    ("key-" + i).getBytes(StandardCharsets.UTF_8),
                    value.toString().getBytes(StandardCharsets.UTF_8), headers)));
            }
            producer.flush();
            for (int i = 0; i < count; i++) {
                RecordMetadata md = acks.get(i).get();
                Map<String, Object> line = new LinkedHashMap<>();
                line.put("seq", i);
                line.put("partition", md.partition());
                line.put("offset", md.offset());
                line.put("timestamp", md.timestamp());
                System.out.println(json.writeValueAsString(line));
            }
            Map<String, Object> done = new LinkedHashMap<>();
            done.put("done", count);
            done.put("retries", producer.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("record-retry-total")
                    && e.getKey().group().equals("producer-metrics"))
                .map(e -> e.getValue().metricValue()).findFirst().orElse(null));
            System.out.println(json.writeValueAsString(done));
        }
    }
}
