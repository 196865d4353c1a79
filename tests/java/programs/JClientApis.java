import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The producer's and consumer's own calls beyond send and poll, one JSON line per step as in
 * {@code JAdmin}: an acks=1 then an acks=0 producer (acks=0 once the partition is known to be
 * ready: an acks=0 record sent earlier may be dropped unseen), a record too large for the
 * broker, a topic with LogAppendTime, offsetsForTimes, beginning/end offsets, position, seek,
 * committed, pause and resume, partitionsFor/listTopics, currentLag, a read_committed consumer
 * whose fetch limits are below one record, and the reset of a committed offset that DeleteRecords
 * left behind.
 *
 * <p>Usage: {@code JClientApis <bootstrap> <prefix>}.
 */
public class JClientApis {
    static final ObjectMapper JSON = new ObjectMapper();

    interface Step {
        Object run() throws Exception;
    }

    static void step(String name, Step s) throws Exception {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("step", name);
        long start = System.nanoTime();
        try {
            Object result = s.run();
            line.put("ok", true);
            line.put("result", result);
        } catch (Exception e) {
            Throwable t = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            line.put("ok", false);
            line.put("error", t.getClass().getSimpleName());
            line.put("message", String.valueOf(t.getMessage()));
        }
        line.put("ms", (System.nanoTime() - start) / 1_000_000);
        System.out.println(JSON.writeValueAsString(line));
        System.out.flush();
    }

    static KafkaProducer<String, String> producer(String bootstrap, String... kv) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("delivery.timeout.ms", "20000");
        p.put("request.timeout.ms", "10000");
        for (int i = 0; i < kv.length; i += 2) p.put(kv[i], kv[i + 1]);
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        if (group != null) p.put("group.id", group);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("default.api.timeout.ms", "20000");
        return new KafkaConsumer<>(p);
    }

    static List<Long> offsets(List<ConsumerRecord<String, String>> records) {
        List<Long> out = new ArrayList<>();
        for (ConsumerRecord<String, String> r : records) out.add(r.offset());
        return out;
    }

    static List<ConsumerRecord<String, String>> pollFor(KafkaConsumer<String, String> c, int n, long ms) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.currentTimeMillis() + ms;
        while (out.size() < n && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) out.add(r);
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String prefix = args[1];
        String t = prefix + "-apis";
        String appendTime = prefix + "-append-time";
        TopicPartition p0 = new TopicPartition(t, 0);
        TopicPartition p1 = new TopicPartition(t, 1);
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(t, 2, (short) 1),
                new NewTopic(appendTime, 1, (short) 1).configs(Map.of("message.timestamp.type", "LogAppendTime"))))
                .all().get(30, TimeUnit.SECONDS);

            step("produce.acks1", () -> {
                try (KafkaProducer<String, String> p = producer(bootstrap, "acks", "1", "enable.idempotence", "false")) {
                    RecordMetadata md = null;
                    for (int i = 0; i < 5; i++) md = p.send(new ProducerRecord<>(t, 0, 1000L + i, "k", "one-" + i)).get();
                    return List.of(md.partition(), md.offset());
                }
            });
            step("produce.acks0", () -> {
                try (KafkaProducer<String, String> p = producer(bootstrap, "acks", "0", "enable.idempotence", "false")) {
                    RecordMetadata md = null;
                    for (int i = 5; i < 10; i++) md = p.send(new ProducerRecord<>(t, 0, 1000L + i, "k", "zero-" + i)).get();
                    return List.of(md.partition(), md.offset(), md.hasOffset());
                }
            });
            step("produce.tooLarge", () -> {
                try (KafkaProducer<String, String> p = producer(bootstrap, "max.request.size", "3000000")) {
                    return p.send(new ProducerRecord<>(t, 1, "big", "x".repeat(2_000_000))).get().offset();
                }
            });
            step("produce.afterTooLarge", () -> {
                try (KafkaProducer<String, String> p = producer(bootstrap)) {
                    RecordMetadata md = null;
                    for (int i = 0; i < 4; i++) md = p.send(new ProducerRecord<>(t, 1, 2000L + i, "k", "p1-" + i)).get();
                    return List.of(md.partition(), md.offset());
                }
            });
            step("produce.logAppendTime", () -> {
                try (KafkaProducer<String, String> p = producer(bootstrap)) {
                    long before = System.currentTimeMillis();
                    RecordMetadata md = p.send(new ProducerRecord<>(appendTime, 0, 1L, "k", "v")).get();
                    return List.of(md.offset(), md.timestamp() >= before - 1000, md.timestamp() != 1L);
                }
            });
            step("consume.logAppendTime", () -> {
                try (KafkaConsumer<String, String> c = consumer(bootstrap, null)) {
                    TopicPartition tp = new TopicPartition(appendTime, 0);
                    c.assign(List.of(tp));
                    c.seekToBeginning(List.of(tp));
                    ConsumerRecord<String, String> r = pollFor(c, 1, 20000).get(0);
                    return List.of(r.timestampType().name, r.timestamp() != 1L);
                }
            });

            try (KafkaConsumer<String, String> c = consumer(bootstrap, prefix + "-g")) {
                step("partitionsFor", () -> {
                    List<Object> out = new ArrayList<>();
                    for (PartitionInfo pi : c.partitionsFor(t)) out.add(List.of(pi.partition(), pi.leader().id(), pi.replicas().length));
                    return out;
                });
                step("partitionsFor.unknown", () -> c.partitionsFor(prefix + "-missing", Duration.ofSeconds(5)).size());
                step("listTopics.later", () -> {
                    Thread.sleep(3000);
                    return c.listTopics().keySet().stream().filter(n -> n.startsWith(prefix)).sorted().toList();
                });
                step("beginningOffsets", () -> new TreeMap<>(Map.of("p0", c.beginningOffsets(List.of(p0)).get(p0),
                    "p1", c.beginningOffsets(List.of(p1)).get(p1))));
                step("endOffsets", () -> new TreeMap<>(Map.of("p0", c.endOffsets(List.of(p0)).get(p0),
                    "p1", c.endOffsets(List.of(p1)).get(p1))));
                step("offsetsForTimes", () -> {
                    Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(Map.of(p0, 1007L, p1, 99999L));
                    OffsetAndTimestamp o = r.get(p0);
                    return List.of(o.offset(), o.timestamp(), String.valueOf(r.get(p1)));
                });
                c.assign(List.of(p0, p1));
                step("committed.none", () -> String.valueOf(c.committed(java.util.Set.of(p0)).get(p0)));
                step("seek.position", () -> {
                    c.seek(p0, 7);
                    return c.position(p0);
                });
                step("poll.fromSeek", () -> offsets(pollFor(c, 3, 20000)).subList(0, 3));
                step("currentLag", () -> String.valueOf(c.currentLag(p0)));
                step("pause.resume", () -> {
                    c.seekToBeginning(List.of(p1));
                    c.pause(List.of(p1));
                    int paused = 0;
                    for (int i = 0; i < 5; i++) paused += c.poll(Duration.ofMillis(100)).records(p1).size();
                    c.resume(List.of(p1));
                    List<ConsumerRecord<String, String>> got = new ArrayList<>();
                    long deadline = System.currentTimeMillis() + 20000;
                    while (got.size() < 4 && System.currentTimeMillis() < deadline) {
                        got.addAll(c.poll(Duration.ofMillis(100)).records(p1));
                    }
                    return List.of(paused, offsets(got));
                });
                step("commitSync.committed", () -> {
                    c.commitSync(Map.of(p0, new OffsetAndMetadata(4, "meta")));
                    OffsetAndMetadata om = c.committed(java.util.Set.of(p0)).get(p0);
                    return List.of(om.offset(), om.metadata(), om.leaderEpoch().isPresent());
                });
                step("commitAsync", () -> {
                    java.util.concurrent.CompletableFuture<Object> done = new java.util.concurrent.CompletableFuture<>();
                    c.commitAsync(Map.of(p1, new OffsetAndMetadata(2)), (o, e) -> {
                        if (e != null) done.completeExceptionally(e);
                        else done.complete(o.get(p1).offset());
                    });
                    long deadline = System.currentTimeMillis() + 20000;
                    while (!done.isDone() && System.currentTimeMillis() < deadline) c.poll(Duration.ofMillis(50));
                    return done.get(1, TimeUnit.SECONDS);
                });
            }
            step("consume.readCommittedFetchLimitsBelowARecord", () -> {
                String big = prefix + "-big";
                admin.createTopics(List.of(new NewTopic(big, 1, (short) 1))).all().get(20, TimeUnit.SECONDS);
                try (KafkaProducer<String, String> p = producer(bootstrap)) {
                    for (int i = 0; i < 3; i++) p.send(new ProducerRecord<>(big, 0, "k", "y".repeat(50_000))).get();
                }
                Properties cp = new Properties();
                cp.put("bootstrap.servers", bootstrap);
                cp.put("key.deserializer", StringDeserializer.class.getName());
                cp.put("value.deserializer", StringDeserializer.class.getName());
                cp.put("isolation.level", "read_committed");
                cp.put("fetch.max.bytes", "1000");
                cp.put("max.partition.fetch.bytes", "1000");
                try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
                    TopicPartition tp = new TopicPartition(big, 0);
                    c.assign(List.of(tp));
                    c.seekToBeginning(List.of(tp));
                    List<ConsumerRecord<String, String>> got = pollFor(c, 3, 20000);
                    return List.of(offsets(got), got.stream().allMatch(r -> r.value().length() == 50_000),
                        c.endOffsets(List.of(tp)).get(tp));
                }
            });
            step("deleteRecords.thenResetFromCommitted", () -> {
                admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(8))).all().get(20, TimeUnit.SECONDS);
                try (KafkaConsumer<String, String> c = consumer(bootstrap, prefix + "-g")) {
                    c.assign(List.of(p0));
                    return offsets(pollFor(c, 2, 20000));
                }
            });
        }
    }
}
