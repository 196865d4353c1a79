import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Drives the Java AdminClient through every call, printing one JSON line per call:
 * {@code {"call": name, "ok": true, "result": ...}} or {@code {"call": name, "ok": false,
 * "error": <exception class>, "message": ..., "ms": elapsed}}.
 *
 * <p>Usage: {@code JAdmin <bootstrap> <prefix>}: walks the calls a broker serves on topics and
 * groups named after {@code prefix}, each with a 20 s bound so a hang shows as a
 * TimeoutException rather than a stuck test. {@code JAdminUnserved} calls the rest.
 */
public class JAdmin {
    static final ObjectMapper JSON = new ObjectMapper();

    interface Call {
        Object run() throws Exception;
    }

    static Object call(String name, Call c) throws Exception {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("call", name);
        long start = System.nanoTime();
        Object result = null;
        try {
            result = c.run();
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
        return result;
    }

    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }

    static Map<String, Object> topic(TopicDescription d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", d.name());
        m.put("internal", d.isInternal());
        m.put("topicId", d.topicId().toString());
        List<Map<String, Object>> parts = new ArrayList<>();
        for (TopicPartitionInfo p : d.partitions()) {
            Map<String, Object> pm = new LinkedHashMap<>();
            pm.put("partition", p.partition());
            pm.put("leader", p.leader() == null ? null : p.leader().id());
            pm.put("replicas", p.replicas().stream().map(Node::id).toList());
            pm.put("isr", p.isr().stream().map(Node::id).toList());
            parts.add(pm);
        }
        m.put("partitions", parts);
        return m;
    }

    static Map<String, Object> configs(Map<ConfigResource, Config> all) {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<ConfigResource, Config> e : all.entrySet()) {
            Map<String, Object> entries = new TreeMap<>();
            for (ConfigEntry ce : e.getValue().entries()) {
                entries.put(ce.name(), List.of(String.valueOf(ce.value()), ce.source().name(),
                    ce.isReadOnly(), ce.isSensitive()));
            }
            out.put(e.getKey().type() + ":" + e.getKey().name(), entries);
        }
        return out;
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String prefix = args[1];
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("default.api.timeout.ms", "20000");
        props.put("request.timeout.ms", "10000");
        try (Admin admin = Admin.create(props)) {
            served(admin, bootstrap, prefix);
        }
    }

    static void served(Admin admin, String bootstrap, String prefix) throws Exception {
        String t = prefix + "-topic";
        String g = prefix + "-group";
        TopicPartition p0 = new TopicPartition(t, 0);
        TopicPartition p1 = new TopicPartition(t, 1);
        ConfigResource topicRes = new ConfigResource(ConfigResource.Type.TOPIC, t);
        call("createTopics.validateOnly", () -> {
            get(admin.createTopics(List.of(new NewTopic(t, 3, (short) 1)),
                new CreateTopicsOptions().validateOnly(true)).all());
            return admin.listTopics().names().get().contains(t);
        });
        call("createTopics", () -> {
            var r = admin.createTopics(List.of(new NewTopic(t, 3, (short) 1)
                .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete"))));
            get(r.all());
            return Map.of("partitions", get(r.numPartitions(t)), "replicationFactor",
                (int) get(r.replicationFactor(t)), "topicId", get(r.topicId(t)).toString(),
                "retention.ms", get(r.config(t)).get("retention.ms").value());
        });
        call("createTopics.exists", () -> get(admin.createTopics(List.of(new NewTopic(t, 3, (short) 1))).all()));
        call("createTopics.badReplication", () -> get(admin.createTopics(
            List.of(new NewTopic(prefix + "-rf9", 1, (short) 9))).all()));
        call("createTopics.badConfig", () -> get(admin.createTopics(List.of(new NewTopic(prefix + "-badcfg", 1, (short) 1)
            .configs(Map.of("cleanup.policy", "sideways")))).all()));
        call("createTopics.assignment", () -> {
            String m = prefix + "-manual";
            get(admin.createTopics(List.of(new NewTopic(m, Map.of(0, List.of(1), 1, List.of(1))))).all());
            get(admin.createPartitions(Map.of(m, NewPartitions.increaseTo(3, List.of(List.of(1))))).all());
            TopicDescription d = settled(admin, m, 3);
            get(admin.deleteTopics(List.of(m)).all());
            return d.partitions().stream().map(p -> p.replicas().get(0).id()).toList();
        });
        call("createTopics.badAssignment", () -> get(admin.createTopics(
            List.of(new NewTopic(prefix + "-badasg", Map.of(0, List.of(7))))).all()));
        call("createPartitions.badAssignment", () -> get(admin.createPartitions(
            Map.of(t, NewPartitions.increaseTo(4, List.of(List.of(9))))).all()));
        call("listTopics", () -> new ArrayList<>(get(admin.listTopics().names())).stream().sorted().toList());
        call("describeTopics", () -> topic(settled(admin, t, 3)));
        call("describeTopics.authorizedOperations", () -> get(admin.describeTopics(List.of(t),
            new org.apache.kafka.clients.admin.DescribeTopicsOptions().includeAuthorizedOperations(true))
            .allTopicNames()).get(t).authorizedOperations().stream().map(Enum::name).sorted().toList());
        call("describeTopics.byId", () -> {
            org.apache.kafka.common.Uuid id = get(admin.describeTopics(List.of(t)).allTopicNames()).get(t).topicId();
            TopicDescription d = get(admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(id)))
                .allTopicIds()).get(id);
            return List.of(d.name(), d.topicId().equals(id), d.partitions().size());
        });
        call("describeTopics.byUnknownId", () -> get(admin.describeTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(
            List.of(org.apache.kafka.common.Uuid.randomUuid()))).allTopicIds()));
        call("describeTopics.unknown", () -> get(admin.describeTopics(List.of(prefix + "-nope")).allTopicNames()));
        call("createPartitions", () -> {
            get(admin.createPartitions(Map.of(t, NewPartitions.increaseTo(4))).all());
            return settled(admin, t, 4).partitions().size();
        });
        call("createPartitions.decrease", () -> get(admin.createPartitions(Map.of(t, NewPartitions.increaseTo(2))).all()));
        call("describeConfigs.topic", () -> {
            Config c = get(admin.describeConfigs(List.of(topicRes)).all()).get(topicRes);
            ConfigEntry r = c.get("retention.ms");
            ConfigEntry s = c.get("segment.bytes");
            return Map.of("retention.ms", List.of(r.value(), r.source().name()),
                "segment.bytes", List.of(s.value(), s.source().name()));
        });
        call("describeConfigs.broker", () -> {
            var node = get(admin.describeCluster().nodes()).iterator().next();
            ConfigResource br = new ConfigResource(ConfigResource.Type.BROKER, node.idString());
            Config c = get(admin.describeConfigs(List.of(br)).all()).get(br);
            ConfigEntry n = c.get("num.partitions");
            return n == null ? null : List.of(n.value(), n.source().name());
        });
        call("incrementalAlterConfigs", () -> {
            get(admin.incrementalAlterConfigs(Map.of(topicRes, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)))).all());
            Config c = get(admin.describeConfigs(List.of(topicRes)).all()).get(topicRes);
            return Map.of("retention.ms", List.of(c.get("retention.ms").value(), c.get("retention.ms").source().name()),
                "cleanup.policy", c.get("cleanup.policy").value());
        });
        call("incrementalAlterConfigs.badValue", () -> get(admin.incrementalAlterConfigs(Map.of(topicRes, List.of(
            new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all()));
        call("describeCluster", () -> {
            DescribeClusterResult r = admin.describeCluster(
                new org.apache.kafka.clients.admin.DescribeClusterOptions().includeAuthorizedOperations(true));
            return Map.of("clusterId", String.valueOf(get(r.clusterId())),
                "controller", get(r.controller()).id(),
                "nodes", get(r.nodes()).stream().map(n -> n.host() + ":" + n.port() + "#" + n.id()).toList(),
                "authorizedOperations", get(r.authorizedOperations()).stream().map(Enum::name).sorted().toList());
        });
        call("describeFeatures", () -> {
            FeatureMetadata f = get(admin.describeFeatures().featureMetadata());
            Map<String, Object> m = new TreeMap<>();
            f.finalizedFeatures().forEach((k, v) -> m.put("finalized:" + k, List.of(v.minVersionLevel(), v.maxVersionLevel())));
            f.supportedFeatures().forEach((k, v) -> m.put("supported:" + k, List.of(v.minVersion(), v.maxVersion())));
            return m;
        });
        // Ten records on partition 0 (timestamps 1000..1009, the eighth the largest) to list and delete.
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < 10; i++) {
                long ts = i == 7 ? 5000L : 1000L + i;
                producer.send(new ProducerRecord<>(t, 0, ts, "k" + i, "v" + i)).get();
            }
        }
        call("listOffsets", () -> {
            Map<String, Object> m = new TreeMap<>();
            for (var spec : Map.of("earliest", OffsetSpec.earliest(), "latest", OffsetSpec.latest(),
                    "maxTimestamp", OffsetSpec.maxTimestamp(), "forTimestamp1004", OffsetSpec.forTimestamp(1004L),
                    "earliestLocal", OffsetSpec.earliestLocal(), "latestTiered", OffsetSpec.latestTiered()).entrySet()) {
                ListOffsetsResultInfo info = get(admin.listOffsets(Map.of(p0, spec.getValue())).all()).get(p0);
                m.put(spec.getKey(), List.of(info.offset(), info.timestamp()));
            }
            return m;
        });
        call("deleteRecords", () -> {
            long low = get(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(3))).all().thenApply(x -> 0L));
            long lw = get(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(3))).lowWatermarks().get(p0)).lowWatermark();
            long earliest = get(admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).all()).get(p0).offset();
            return Map.of("lowWatermark", lw, "earliest", earliest);
        });
        call("deleteRecords.beyondEnd", () -> get(admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(99))).all()));
        // A classic group that commits offset 5 on partition 0 and leaves.
        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("group.id", g);
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        cp.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(List.of(t));
            long deadline = System.currentTimeMillis() + 30000;
            while (consumer.assignment().isEmpty() && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(100));
            }
            call("describeConsumerGroups.stable", () -> {
                ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(g)).all()).get(g);
                List<Object> members = new ArrayList<>();
                for (MemberDescription md : d.members()) {
                    members.add(List.of(md.clientId(), md.assignment().topicPartitions().size()));
                }
                return Map.of("state", d.groupState().toString(), "assignor", d.partitionAssignor(),
                    "type", d.type().toString(), "members", members, "simple", d.isSimpleConsumerGroup(),
                    "coordinator", d.coordinator().id());
            });
            consumer.commitSync(Map.of(p0, new OffsetAndMetadata(5, "five")));
        }
        call("listGroups.consumer", () -> {
            List<Object> out = new ArrayList<>();
            for (GroupListing l : get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all())) {
                if (l.groupId().equals(g)) {
                    out.add(List.of(l.groupId(), String.valueOf(l.type().orElse(null)),
                        l.protocol(), String.valueOf(l.groupState().orElse(null))));
                }
            }
            return out;
        });
        call("listGroups.all", () -> get(admin.listGroups().all()).stream()
            .filter(l -> l.groupId().equals(g)).map(GroupListing::groupId).toList());
        call("describeConsumerGroups.empty", () -> {
            ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(g)).all()).get(g);
            return Map.of("state", d.groupState().toString(), "members", d.members().size());
        });
        call("describeConsumerGroups.unknown", () -> {
            ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(prefix + "-nogroup")).all()).get(prefix + "-nogroup");
            return Map.of("state", d.groupState().toString(), "members", d.members().size());
        });
        call("describeClassicGroups", () -> get(admin.describeClassicGroups(List.of(g)).all()).get(g).state().toString());
        call("listConsumerGroupOffsets", () -> offsets(get(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata())));
        call("alterConsumerGroupOffsets", () -> {
            get(admin.alterConsumerGroupOffsets(g, Map.of(p1, new OffsetAndMetadata(0))).all());
            return offsets(get(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata()));
        });
        call("deleteConsumerGroupOffsets", () -> {
            get(admin.deleteConsumerGroupOffsets(g, Set.of(p1)).all());
            return offsets(get(admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata()));
        });
        // A static member stays in its group when it closes; an admin removes it by instance id.
        String sg = prefix + "-static";
        Properties sp = new Properties();
        sp.putAll(cp);
        sp.put("group.id", sg);
        sp.put("group.instance.id", "static-1");
        sp.put("session.timeout.ms", "60000");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(sp)) {
            consumer.subscribe(List.of(t));
            long deadline = System.currentTimeMillis() + 30000;
            while (consumer.assignment().isEmpty() && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(100));
            }
        }
        call("removeMembersFromConsumerGroup.static", () -> {
            ConsumerGroupDescription before = get(admin.describeConsumerGroups(List.of(sg)).all()).get(sg);
            get(admin.removeMembersFromConsumerGroup(sg, new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions(
                List.of(new org.apache.kafka.clients.admin.MemberToRemove("static-1")))).all());
            ConsumerGroupDescription after = get(admin.describeConsumerGroups(List.of(sg)).all()).get(sg);
            return List.of(before.groupState().toString(),
                before.members().stream().map(m -> m.groupInstanceId().orElse("")).toList(),
                after.groupState().toString(), after.members().size());
        });
        call("removeMembersFromConsumerGroup.unknown", () -> get(admin.removeMembersFromConsumerGroup(sg,
            new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions(
                List.of(new org.apache.kafka.clients.admin.MemberToRemove("nobody")))).all()));
        call("deleteConsumerGroups", () -> {
            get(admin.deleteConsumerGroups(List.of(g)).all());
            return get(admin.listGroups().all()).stream().anyMatch(l -> l.groupId().equals(g));
        });
        call("deleteConsumerGroups.unknown", () -> get(admin.deleteConsumerGroups(List.of(prefix + "-nogroup")).all()));
        call("deleteTopics", () -> {
            get(admin.deleteTopics(List.of(t)).all());
            return gone(admin, t);
        });
        call("deleteTopics.byId", () -> {
            String other = prefix + "-by-id";
            org.apache.kafka.common.Uuid id = get(admin.createTopics(List.of(new NewTopic(other, 1, (short) 1))).topicId(other));
            get(admin.deleteTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(List.of(id))).all());
            return gone(admin, other);
        });
        call("deleteTopics.byUnknownId", () -> get(admin.deleteTopics(org.apache.kafka.common.TopicCollection.ofTopicIds(
            List.of(org.apache.kafka.common.Uuid.randomUuid()))).all()));
        call("deleteTopics.unknown", () -> get(admin.deleteTopics(List.of(prefix + "-nope")).all()));
    }

    /**
     * The topic once the brokers' metadata shows {@code partitions} partitions (within 10 s):
     * Kafka's brokers learn a change a little after the controller acknowledged it.
     */
    static TopicDescription settled(Admin admin, String topic, int partitions) throws Exception {
        long deadline = System.currentTimeMillis() + 10000;
        while (true) {
            try {
                TopicDescription d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
                if (d.partitions().size() == partitions || System.currentTimeMillis() > deadline) return d;
            } catch (ExecutionException e) {
                if (System.currentTimeMillis() > deadline) throw e;
            }
            Thread.sleep(100);
        }
    }

    /** Whether a deleted topic has left the listing within 10 s (Kafka's brokers learn it a little later). */
    static boolean gone(Admin admin, String topic) throws Exception {
        long deadline = System.currentTimeMillis() + 10000;
        while (get(admin.listTopics().names()).contains(topic)) {
            if (System.currentTimeMillis() > deadline) return false;
            Thread.sleep(100);
        }
        return true;
    }

    static Map<String, Object> offsets(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<String, Object> out = new TreeMap<>();
        m.forEach((tp, om) -> out.put(tp.toString(), om == null ? null : List.of(om.offset(), om.metadata())));
        return out;
    }
}
