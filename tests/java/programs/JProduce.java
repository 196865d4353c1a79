import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produces {@code count} records with the Java producer and prints one JSON line per ack.
 *
 * <p>Usage: {@code JProduce <bootstrap> <topic> <count> [key=value ...]}. Arguments of the form
 * {@code key=value} are producer configs, except {@code x.partition} (send every record to this
 * partition; by default the key picks it) and {@code x.value.bytes} (pad each value to this
 * size with compressible text) and {@code x.pace.ms} (sleep this long after each send). Each
 * ack (or failure) is printed as it arrives. Record {@code i} has key {@code key-i}, value starting with
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
        long paceMs = 0;
        for (int a = 3; a < args.length; a++) {
            String[] kv = args[a].split("=", 2);
            if (kv[0].equals("x.partition")) partition = Integer.parseInt(kv[1]);
            else if (kv[0].equals("x.value.bytes")) valueBytes = Integer.parseInt(kv[1]);
            else if (kv[0].equals("x.pace.ms")) paceMs = Long.parseLong(kv[1]);
            else props.put(kv[0], kv[1]);
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                StringBuilder value = new StringBuilder("value-" + i);
                while (value.length() < valueBytes) value.append(" the quick brown fox ").append(i % 7);
                RecordHeaders headers = new RecordHeaders();
                headers.add("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                headers.add("empty", new byte[0]);
                headers.add("nothing", null);
                final int seq = i;
                producer.send(new ProducerRecord<>(
                    topic, partition, 1700000000000L + i,
                    ("key-" + i).getBytes(StandardCharsets.UTF_8),
                    value.toString().getBytes(StandardCharsets.UTF_8), headers), (md, error) -> {
                        Map<String, Object> line = new LinkedHashMap<>();
                        line.put("seq", seq);
                        if (error != null) {
                            line.put("error", error.getClass().getSimpleName());
                            line.put("message", String.valueOf(error.getMessage()));
                        } else {
                            line.put("partition", md.partition());
                            line.put("offset", md.offset());
                            line.put("timestamp", md.timestamp());
                        }
                        print(json, line);
                    });
                if (paceMs > 0) Thread.sleep(paceMs);
            }
            producer.flush();
            Map<String, Object> done = new LinkedHashMap<>();
            done.put("done", count);
            done.put("retries", producer.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("record-retry-total")
                    && e.getKey().group().equals("producer-metrics"))
                .map(e -> e.getValue().metricValue()).findFirst().orElse(null));
            print(json, done);
        }
    }

    static synchronized void print(ObjectMapper json, Map<String, Object> line) {
        try {
            System.out.println(json.writeValueAsString(line));
            System.out.flush();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
