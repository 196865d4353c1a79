import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.kafka.connect.data.SchemaAndValue;
import org.apache.kafka.connect.header.ConnectHeaders;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.transforms.Transformation;
import org.apache.kafka.connect.transforms.predicates.Predicate;

/**
 * Applies one of Kafka's transformations (or tests one of its predicates) to a sink record, for
 * each JSON case on stdin (one a line), and prints the outcome as one JSON line. Keys, values
 * and header values travel as JsonConverter envelopes ({"schema": ..., "payload": ...}).
 *
 * Case: {"class": ..., "config": {...}, "topic": ..., "partition": n, "offset": n,
 *        "timestamp": n|null, "key": envelope, "value": envelope, "headers": [[k, envelope]]}
 * Outcome: {"topic", "key", "value", "headers"}, {"dropped": true}, {"test": bool}, or
 *          {"error": exception class, "message": ...}.
 */
public class ApplyTransforms {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        JsonConverter converter = new JsonConverter();
        converter.configure(Map.of("schemas.enable", "true", "replace.null.with.default", "false"), false);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            System.out.println(MAPPER.writeValueAsString(apply(converter, MAPPER.readTree(line))));
        }
    }

    private static SchemaAndValue read(JsonConverter converter, String topic, JsonNode envelope) throws Exception {
        return converter.toConnectData(topic, MAPPER.writeValueAsBytes(envelope));
    }

    private static JsonNode write(JsonConverter converter, String topic, org.apache.kafka.connect.data.Schema schema, Object value) throws Exception {
        byte[] bytes = converter.fromConnectData(topic, schema, value);
        return bytes == null ? MAPPER.nullNode() : MAPPER.readTree(bytes);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static ObjectNode apply(JsonConverter converter, JsonNode c) {
        ObjectNode out = MAPPER.createObjectNode();
        try {
            String topic = c.get("topic").asText();
            SchemaAndValue key = read(converter, topic, c.get("key"));
            SchemaAndValue value = read(converter, topic, c.get("value"));
            ConnectHeaders headers = new ConnectHeaders();
            for (JsonNode h : c.withArray("headers")) {
                SchemaAndValue hv = read(converter, topic, h.get(1));
                headers.add(h.get(0).asText(), hv);
            }
            Long timestamp = c.get("timestamp").isNull() ? null : c.get("timestamp").asLong();
            SinkRecord record = new SinkRecord(topic, c.get("partition").asInt(), key.schema(), key.value(),
                    value.schema(), value.value(), c.get("offset").asLong(), timestamp,
                    org.apache.kafka.common.record.TimestampType.CREATE_TIME, headers);
            Map<String, Object> config = new HashMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = c.get("config").fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                config.put(e.getKey(), e.getValue().asText());
            }
            Object plugin = Class.forName(c.get("class").asText()).getDeclaredConstructor().newInstance();
            if (plugin instanceof Predicate) {
                Predicate p = (Predicate) plugin;
                p.configure(config);
                out.put("test", p.test(record));
                return out;
            }
            Transformation t = (Transformation) plugin;
            t.configure(config);
            SinkRecord result = (SinkRecord) t.apply(record);
            if (result == null) {
                out.put("dropped", true);
                return out;
            }
            out.put("topic", result.topic());
            out.set("key", write(converter, result.topic(), result.keySchema(), result.key()));
            out.set("value", write(converter, result.topic(), result.valueSchema(), result.value()));
            ArrayNode hs = out.putArray("headers");
            for (Header h : result.headers()) {
                ArrayNode pair = hs.addArray();
                pair.add(h.key());
                pair.add(write(converter, result.topic(), h.schema(), h.value()));
            }
        } catch (Throwable e) {
            Throwable cause = e;
            out.removeAll();
            out.put("error", cause.getClass().getName());
            out.put("message", String.valueOf(cause.getMessage()));
        }
        return out;
    }
}
