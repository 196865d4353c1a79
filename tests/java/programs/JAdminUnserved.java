import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Calls the AdminClient methods whose APIs brook does not serve — ACLs, quotas, SCRAM,
 * delegation tokens, replica log dirs, transactions, share and streams groups, the metadata
 * quorum, feature updates, raft voters... — printing one JSON line per call as {@code JAdmin}
 * does, each with a 20 s bound so a hang shows as a TimeoutException rather than a stuck test.
 * It also makes the reassignment calls, which brook serves; the test checks that they succeed.
 *
 * <p>Usage: {@code JAdminUnserved <bootstrap> <prefix>}.
 */
public class JAdminUnserved {
    static final ObjectMapper JSON = new ObjectMapper();

    interface Call {
        Object run() throws Exception;
    }

    static void call(String name, Call c) throws Exception {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("call", name);
        long start = System.nanoTime();
        try {
            line.put("result", c.run());
            line.put("ok", true);
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

    static <T> T get(KafkaFuture<T> f) throws Exception {
        return f.get(20, TimeUnit.SECONDS);
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("default.api.timeout.ms", "20000");
        props.put("request.timeout.ms", "10000");
        try (Admin admin = Admin.create(props)) {
            unserved(admin, args[1]);
        }
    }

    static void unserved(Admin admin, String prefix) throws Exception {
        String t = prefix + "-topic";
        get(admin.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all());
        TopicPartition p0 = new TopicPartition(t, 0);
        ResourcePattern pattern = new ResourcePattern(ResourceType.TOPIC, t, PatternType.LITERAL);
        AclBinding acl = new AclBinding(pattern, new AccessControlEntry("User:alice", "*",
            AclOperation.READ, AclPermissionType.ALLOW));
        call("describeAcls", () -> get(admin.describeAcls(AclBindingFilter.ANY).values()));
        call("createAcls", () -> get(admin.createAcls(List.of(acl)).all()));
        call("deleteAcls", () -> get(admin.deleteAcls(List.of(AclBindingFilter.ANY)).all()));
        call("describeClientQuotas", () -> get(admin.describeClientQuotas(ClientQuotaFilter.all()).entities()));
        call("alterClientQuotas", () -> get(admin.alterClientQuotas(List.of(new ClientQuotaAlteration(
            new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "alice")),
            List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0))))).all()));
        call("describeUserScramCredentials", () -> get(admin.describeUserScramCredentials().all()));
        call("alterUserScramCredentials", () -> get(admin.alterUserScramCredentials(List.of(
            new UserScramCredentialUpsertion("alice", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                "secret"))).all()));
        call("createDelegationToken", () -> get(admin.createDelegationToken().delegationToken()));
        call("describeDelegationToken", () -> get(admin.describeDelegationToken().delegationTokens()));
        call("renewDelegationToken", () -> get(admin.renewDelegationToken(new byte[] {1}).expiryTimestamp()));
        call("expireDelegationToken", () -> get(admin.expireDelegationToken(new byte[] {1}).expiryTimestamp()));
        call("listPartitionReassignments", () -> get(admin.listPartitionReassignments().reassignments()));
        call("alterPartitionReassignments", () -> get(admin.alterPartitionReassignments(
            Map.of(p0, Optional.of(new NewPartitionReassignment(List.of(1))))).all()));
        call("alterReplicaLogDirs", () -> get(admin.alterReplicaLogDirs(
            Map.of(new TopicPartitionReplica(t, 0, 1), "/nowhere")).all()));
        call("listTransactions", () -> get(admin.listTransactions().all()));
        call("describeTransactions", () -> get(admin.describeTransactions(List.of(prefix + "-txn")).all()));
        call("abortTransaction", () -> get(admin.abortTransaction(new AbortTransactionSpec(p0, 1000L, (short) 0, 0)).all()));
        call("fenceProducers", () -> get(admin.fenceProducers(List.of(prefix + "-txn")).all()));
        call("describeMetadataQuorum", () -> get(admin.describeMetadataQuorum().quorumInfo()).leaderId());
        call("updateFeatures", () -> get(admin.updateFeatures(Map.of("group.version",
            new FeatureUpdate((short) 1, FeatureUpdate.UpgradeType.UPGRADE)), new UpdateFeaturesOptions()).all()));
        call("unregisterBroker", () -> get(admin.unregisterBroker(99).all()));
        call("listGroups.share", () -> get(admin.listGroups(ListGroupsOptions.forShareGroups()).all()).size());
        call("describeShareGroups", () -> get(admin.describeShareGroups(List.of(prefix + "-share")).all()));
        call("listShareGroupOffsets", () -> get(admin.listShareGroupOffsets(
            Map.of(prefix + "-share", new ListShareGroupOffsetsSpec())).all()));
        call("deleteShareGroups", () -> get(admin.deleteShareGroups(List.of(prefix + "-share")).all()));
        call("listGroups.streams", () -> get(admin.listGroups(ListGroupsOptions.forStreamsGroups()).all()).size());
        call("describeStreamsGroups", () -> get(admin.describeStreamsGroups(List.of(prefix + "-streams")).all()));
        call("alterShareGroupOffsets", () -> get(admin.alterShareGroupOffsets(prefix + "-share", Map.of(p0, 0L)).all()));
        call("deleteShareGroupOffsets", () -> get(admin.deleteShareGroupOffsets(prefix + "-share", Set.of(t)).all()));
        call("forceTerminateTransaction", () -> get(admin.forceTerminateTransaction(prefix + "-txn").result()));
        call("removeRaftVoter", () -> get(admin.removeRaftVoter(9, org.apache.kafka.common.Uuid.randomUuid()).all()));
        call("alterStreamsGroupOffsets", () -> get(admin.alterStreamsGroupOffsets(prefix + "-streams",
            Map.of(p0, new OffsetAndMetadata(0))).all()));
        call("deleteStreamsGroupOffsets", () -> get(admin.deleteStreamsGroupOffsets(prefix + "-streams", Set.of(p0)).all()));
        call("deleteStreamsGroups", () -> get(admin.deleteStreamsGroups(List.of(prefix + "-streams")).all()));
        call("listStreamsGroupOffsets", () -> get(admin.listStreamsGroupOffsets(Map.of(prefix + "-streams",
            new org.apache.kafka.clients.admin.ListStreamsGroupOffsetsSpec())).all()));
        call("listConfigResources", () -> get(admin.listConfigResources().all()).size());
        call("addRaftVoter", () -> get(admin.addRaftVoter(9, org.apache.kafka.common.Uuid.randomUuid(),
            Set.of(new org.apache.kafka.clients.admin.RaftVoterEndpoint("CONTROLLER", "127.0.0.1", 1))).all()));
    }
}
