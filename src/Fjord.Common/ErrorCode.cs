namespace Fjord.Common;

/// <summary>
/// Kafka protocol error codes, as sent in the <c>ErrorCode</c> fields of responses.
/// Names and numbers follow Kafka's wire protocol (codes -1 to 133); see <see cref="ErrorCodes"/> for helpers.
/// </summary>
public enum ErrorCode : short
{
    /// <summary>Unexpected server-side failure.</summary>
    UnknownServerError = -1,
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>Offset outside the partition's log range.</summary>
    OffsetOutOfRange = 1,
    /// <summary>Record failed CRC/size checks or is otherwise malformed.</summary>
    CorruptMessage = 2,
    /// <summary>Topic or partition is not hosted here.</summary>
    UnknownTopicOrPartition = 3,
    /// <summary>Fetch size is not valid.</summary>
    InvalidFetchSize = 4,
    /// <summary>Partition has no leader right now (election in progress).</summary>
    LeaderNotAvailable = 5,
    /// <summary>This broker is not the leader (or not a replica) for the partition.</summary>
    NotLeaderOrFollower = 6,
    /// <summary>Request timed out.</summary>
    RequestTimedOut = 7,
    /// <summary>Broker is not available.</summary>
    BrokerNotAvailable = 8,
    /// <summary>Replica is not available for the partition.</summary>
    ReplicaNotAvailable = 9,
    /// <summary>Record is larger than the allowed maximum.</summary>
    MessageTooLarge = 10,
    /// <summary>Controller epoch is stale.</summary>
    StaleControllerEpoch = 11,
    /// <summary>Offset commit metadata is too large.</summary>
    OffsetMetadataTooLarge = 12,
    /// <summary>Connection dropped before a response arrived.</summary>
    NetworkException = 13,
    /// <summary>Coordinator is still loading its state.</summary>
    CoordinatorLoadInProgress = 14,
    /// <summary>Coordinator is not available.</summary>
    CoordinatorNotAvailable = 15,
    /// <summary>This broker is not the coordinator for the key.</summary>
    NotCoordinator = 16,
    /// <summary>Topic name or topic operation is not valid.</summary>
    InvalidTopicException = 17,
    /// <summary>Record batch exceeds the segment size.</summary>
    RecordListTooLarge = 18,
    /// <summary>Too few in-sync replicas to accept the write.</summary>
    NotEnoughReplicas = 19,
    /// <summary>Written, but to fewer in-sync replicas than required.</summary>
    NotEnoughReplicasAfterAppend = 20,
    /// <summary>The acks value is not valid.</summary>
    InvalidRequiredAcks = 21,
    /// <summary>Group generation id is not valid.</summary>
    IllegalGeneration = 22,
    /// <summary>Member protocols do not match the group's.</summary>
    InconsistentGroupProtocol = 23,
    /// <summary>Group id is not valid.</summary>
    InvalidGroupId = 24,
    /// <summary>Member id is not known to the coordinator.</summary>
    UnknownMemberId = 25,
    /// <summary>Session timeout is outside the allowed range.</summary>
    InvalidSessionTimeout = 26,
    /// <summary>Group is rebalancing; rejoin.</summary>
    RebalanceInProgress = 27,
    /// <summary>Offset commit is too large.</summary>
    InvalidCommitOffsetSize = 28,
    /// <summary>Not authorized for the topic.</summary>
    TopicAuthorizationFailed = 29,
    /// <summary>Not authorized for the group.</summary>
    GroupAuthorizationFailed = 30,
    /// <summary>Not authorized for the cluster operation.</summary>
    ClusterAuthorizationFailed = 31,
    /// <summary>Timestamp is outside the accepted range.</summary>
    InvalidTimestamp = 32,
    /// <summary>SASL mechanism is not enabled.</summary>
    UnsupportedSaslMechanism = 33,
    /// <summary>Request is not allowed in the current SASL state.</summary>
    IllegalSaslState = 34,
    /// <summary>API version is not supported.</summary>
    UnsupportedVersion = 35,
    /// <summary>Topic already exists.</summary>
    TopicAlreadyExists = 36,
    /// <summary>Partition count is not valid.</summary>
    InvalidPartitions = 37,
    /// <summary>Replication factor is not valid.</summary>
    InvalidReplicationFactor = 38,
    /// <summary>Replica assignment is not valid.</summary>
    InvalidReplicaAssignment = 39,
    /// <summary>Configuration is not valid.</summary>
    InvalidConfig = 40,
    /// <summary>This node is not the active controller.</summary>
    NotController = 41,
    /// <summary>Request is malformed or not valid for this broker.</summary>
    InvalidRequest = 42,
    /// <summary>Not supported by the topic's message format.</summary>
    UnsupportedForMessageFormat = 43,
    /// <summary>Request violates a configured policy.</summary>
    PolicyViolation = 44,
    /// <summary>Producer sequence number is out of order.</summary>
    OutOfOrderSequenceNumber = 45,
    /// <summary>Producer sequence number is a duplicate.</summary>
    DuplicateSequenceNumber = 46,
    /// <summary>Producer epoch is stale.</summary>
    InvalidProducerEpoch = 47,
    /// <summary>Operation is not valid in the transaction's state.</summary>
    InvalidTxnState = 48,
    /// <summary>Producer id is not mapped to this transactional id.</summary>
    InvalidProducerIdMapping = 49,
    /// <summary>Transaction timeout exceeds the broker maximum.</summary>
    InvalidTransactionTimeout = 50,
    /// <summary>Another operation on this transaction is in progress.</summary>
    ConcurrentTransactions = 51,
    /// <summary>Transaction coordinator has been superseded.</summary>
    TransactionCoordinatorFenced = 52,
    /// <summary>Not authorized for the transactional id.</summary>
    TransactionalIdAuthorizationFailed = 53,
    /// <summary>Security features are turned off.</summary>
    SecurityDisabled = 54,
    /// <summary>Operation skipped because another in the batch failed.</summary>
    OperationNotAttempted = 55,
    /// <summary>Disk error while accessing the log.</summary>
    KafkaStorageError = 56,
    /// <summary>Log directory is not configured on this broker.</summary>
    LogDirNotFound = 57,
    /// <summary>SASL authentication failed.</summary>
    SaslAuthenticationFailed = 58,
    /// <summary>Producer id has no state on the broker.</summary>
    UnknownProducerId = 59,
    /// <summary>A partition reassignment is already running.</summary>
    ReassignmentInProgress = 60,
    /// <summary>Delegation tokens are disabled.</summary>
    DelegationTokenAuthDisabled = 61,
    /// <summary>Delegation token does not exist.</summary>
    DelegationTokenNotFound = 62,
    /// <summary>Principal is not the token's owner or renewer.</summary>
    DelegationTokenOwnerMismatch = 63,
    /// <summary>Token requests are not allowed on this channel.</summary>
    DelegationTokenRequestNotAllowed = 64,
    /// <summary>Not authorized for the delegation token.</summary>
    DelegationTokenAuthorizationFailed = 65,
    /// <summary>Delegation token has expired.</summary>
    DelegationTokenExpired = 66,
    /// <summary>Principal type is not supported.</summary>
    InvalidPrincipalType = 67,
    /// <summary>Group still has members.</summary>
    NonEmptyGroup = 68,
    /// <summary>Group does not exist.</summary>
    GroupIdNotFound = 69,
    /// <summary>Fetch session does not exist.</summary>
    FetchSessionIdNotFound = 70,
    /// <summary>Fetch session epoch does not match.</summary>
    InvalidFetchSessionEpoch = 71,
    /// <summary>Leader has no listener matching this request's listener.</summary>
    ListenerNotFound = 72,
    /// <summary>Topic deletion is turned off.</summary>
    TopicDeletionDisabled = 73,
    /// <summary>Request's leader epoch is older than the broker's.</summary>
    FencedLeaderEpoch = 74,
    /// <summary>Request's leader epoch is newer than the broker's.</summary>
    UnknownLeaderEpoch = 75,
    /// <summary>Client cannot handle the partition's compression.</summary>
    UnsupportedCompressionType = 76,
    /// <summary>Broker epoch is stale.</summary>
    StaleBrokerEpoch = 77,
    /// <summary>Offset not yet safe to expose after a leader change.</summary>
    OffsetNotAvailable = 78,
    /// <summary>Member must rejoin with the assigned member id.</summary>
    MemberIdRequired = 79,
    /// <summary>Preferred leader cannot take leadership.</summary>
    PreferredLeaderNotAvailable = 80,
    /// <summary>Group is at its maximum size.</summary>
    GroupMaxSizeReached = 81,
    /// <summary>Static member instance id is owned by another member.</summary>
    FencedInstanceId = 82,
    /// <summary>No eligible leader is available.</summary>
    EligibleLeadersNotAvailable = 83,
    /// <summary>Leader election is not needed.</summary>
    ElectionNotNeeded = 84,
    /// <summary>No partition reassignment is running.</summary>
    NoReassignmentInProgress = 85,
    /// <summary>Cannot delete offsets of a topic the group consumes.</summary>
    GroupSubscribedToTopic = 86,
    /// <summary>Record was rejected by broker-side validation.</summary>
    InvalidRecord = 87,
    /// <summary>Pending transactional offsets must settle first.</summary>
    UnstableOffsetCommit = 88,
    /// <summary>Throttling quota exceeded.</summary>
    ThrottlingQuotaExceeded = 89,
    /// <summary>A newer producer with the same transactional id exists.</summary>
    ProducerFenced = 90,
    /// <summary>Referenced resource does not exist.</summary>
    ResourceNotFound = 91,
    /// <summary>Same resource referenced more than once.</summary>
    DuplicateResource = 92,
    /// <summary>Credential does not meet the acceptance rules.</summary>
    UnacceptableCredential = 93,
    /// <summary>Sender or receiver is not in the expected voter set.</summary>
    InconsistentVoterSet = 94,
    /// <summary>Feature update version is not valid.</summary>
    InvalidUpdateVersion = 95,
    /// <summary>Finalized features could not be updated.</summary>
    FeatureUpdateFailed = 96,
    /// <summary>Forwarded principal could not be decoded.</summary>
    PrincipalDeserializationFailure = 97,
    /// <summary>Snapshot does not exist.</summary>
    SnapshotNotFound = 98,
    /// <summary>Position is outside the snapshot.</summary>
    PositionOutOfRange = 99,
    /// <summary>Topic id is not hosted here.</summary>
    UnknownTopicId = 100,
    /// <summary>Broker id is already registered.</summary>
    DuplicateBrokerRegistration = 101,
    /// <summary>Broker id is not registered.</summary>
    BrokerIdNotRegistered = 102,
    /// <summary>Topic id does not match the log's topic id.</summary>
    InconsistentTopicId = 103,
    /// <summary>Cluster id does not match this cluster.</summary>
    InconsistentClusterId = 104,
    /// <summary>Transactional id does not exist.</summary>
    TransactionalIdNotFound = 105,
    /// <summary>Fetch session used topic ids inconsistently.</summary>
    FetchSessionTopicIdError = 106,
    /// <summary>Proposed ISR contains an ineligible replica.</summary>
    IneligibleReplica = 107,
    /// <summary>Partition updated, but a new leader was elected.</summary>
    NewLeaderElected = 108,
    /// <summary>Offset now lives in tiered storage.</summary>
    OffsetMovedToTieredStorage = 109,
    /// <summary>Member epoch fenced; member must rejoin.</summary>
    FencedMemberEpoch = 110,
    /// <summary>Instance id is still held by another member.</summary>
    UnreleasedInstanceId = 111,
    /// <summary>Assignor (or its version) is not supported.</summary>
    UnsupportedAssignor = 112,
    /// <summary>Member epoch is stale; retry with the current one.</summary>
    StaleMemberEpoch = 113,
    /// <summary>Request sent to the wrong kind of endpoint.</summary>
    MismatchedEndpointType = 114,
    /// <summary>Endpoint type is not supported.</summary>
    UnsupportedEndpointType = 115,
    /// <summary>Controller id is not known.</summary>
    UnknownControllerId = 116,
    /// <summary>Telemetry subscription id is unknown or outdated.</summary>
    UnknownSubscriptionId = 117,
    /// <summary>Telemetry payload is too large.</summary>
    TelemetryTooLarge = 118,
    /// <summary>Controller rejected the broker registration.</summary>
    InvalidRegistration = 119,
    /// <summary>Transaction failed; abort it to continue.</summary>
    TransactionAbortable = 120,
    /// <summary>Record state does not allow the acknowledgement.</summary>
    InvalidRecordState = 121,
    /// <summary>Share session does not exist.</summary>
    ShareSessionNotFound = 122,
    /// <summary>Share session epoch does not match.</summary>
    InvalidShareSessionEpoch = 123,
    /// <summary>Share-group state epoch does not match.</summary>
    FencedStateEpoch = 124,
    /// <summary>Voter key does not match this replica.</summary>
    InvalidVoterKey = 125,
    /// <summary>Voter is already in the voter set.</summary>
    DuplicateVoter = 126,
    /// <summary>Voter is not in the voter set.</summary>
    VoterNotFound = 127,
    /// <summary>Regular expression is not valid.</summary>
    InvalidRegularExpression = 128,
    /// <summary>Client metadata is stale; rebootstrap.</summary>
    RebootstrapRequired = 129,
    /// <summary>Streams topology is not valid.</summary>
    StreamsInvalidTopology = 130,
    /// <summary>Streams topology epoch is not valid.</summary>
    StreamsInvalidTopologyEpoch = 131,
    /// <summary>Streams topology epoch is outdated.</summary>
    StreamsTopologyFenced = 132,
    /// <summary>Share session limit reached.</summary>
    ShareSessionLimitReached = 133,
}

/// <summary>Helpers for <see cref="ErrorCode"/>.</summary>
public static class ErrorCodes
{
    /// <summary>
    /// True for the codes a client may retry unchanged (Kafka maps them to exceptions that extend
    /// <c>RetriableException</c>). Unknown codes are not retriable.
    /// </summary>
    public static bool IsRetriable(this ErrorCode code) => code switch
    {
        ErrorCode.CorruptMessage
        or ErrorCode.UnknownTopicOrPartition
        or ErrorCode.LeaderNotAvailable
        or ErrorCode.NotLeaderOrFollower
        or ErrorCode.RequestTimedOut
        or ErrorCode.ReplicaNotAvailable
        or ErrorCode.NetworkException
        or ErrorCode.CoordinatorLoadInProgress
        or ErrorCode.CoordinatorNotAvailable
        or ErrorCode.NotCoordinator
        or ErrorCode.NotEnoughReplicas
        or ErrorCode.NotEnoughReplicasAfterAppend
        or ErrorCode.NotController
        or ErrorCode.ConcurrentTransactions
        or ErrorCode.KafkaStorageError
        or ErrorCode.FetchSessionIdNotFound
        or ErrorCode.InvalidFetchSessionEpoch
        or ErrorCode.ListenerNotFound
        or ErrorCode.FencedLeaderEpoch
        or ErrorCode.UnknownLeaderEpoch
        or ErrorCode.OffsetNotAvailable
        or ErrorCode.PreferredLeaderNotAvailable
        or ErrorCode.EligibleLeadersNotAvailable
        or ErrorCode.ElectionNotNeeded
        or ErrorCode.UnstableOffsetCommit
        or ErrorCode.ThrottlingQuotaExceeded
        or ErrorCode.UnknownTopicId
        or ErrorCode.InconsistentTopicId
        or ErrorCode.FetchSessionTopicIdError
        or ErrorCode.ShareSessionNotFound
        or ErrorCode.InvalidShareSessionEpoch
        or ErrorCode.ShareSessionLimitReached => true,
        _ => false,
    };

    /// <summary>A short human-readable description of the code (our wording); unknown codes get a generic text.</summary>
    public static string Describe(this ErrorCode code) => code switch
    {
        ErrorCode.UnknownServerError => "Unexpected server-side failure.",
        ErrorCode.None => "No error.",
        ErrorCode.OffsetOutOfRange => "Offset outside the partition's log range.",
        ErrorCode.CorruptMessage => "Record failed CRC/size checks or is otherwise malformed.",
        ErrorCode.UnknownTopicOrPartition => "Topic or partition is not hosted here.",
        ErrorCode.InvalidFetchSize => "Fetch size is not valid.",
        ErrorCode.LeaderNotAvailable => "Partition has no leader right now (election in progress).",
        ErrorCode.NotLeaderOrFollower => "This broker is not the leader (or not a replica) for the partition.",
        ErrorCode.RequestTimedOut => "Request timed out.",
        ErrorCode.BrokerNotAvailable => "Broker is not available.",
        ErrorCode.ReplicaNotAvailable => "Replica is not available for the partition.",
        ErrorCode.MessageTooLarge => "Record is larger than the allowed maximum.",
        ErrorCode.StaleControllerEpoch => "Controller epoch is stale.",
        ErrorCode.OffsetMetadataTooLarge => "Offset commit metadata is too large.",
        ErrorCode.NetworkException => "Connection dropped before a response arrived.",
        ErrorCode.CoordinatorLoadInProgress => "Coordinator is still loading its state.",
        ErrorCode.CoordinatorNotAvailable => "Coordinator is not available.",
        ErrorCode.NotCoordinator => "This broker is not the coordinator for the key.",
        ErrorCode.InvalidTopicException => "Topic name or topic operation is not valid.",
        ErrorCode.RecordListTooLarge => "Record batch exceeds the segment size.",
        ErrorCode.NotEnoughReplicas => "Too few in-sync replicas to accept the write.",
        ErrorCode.NotEnoughReplicasAfterAppend => "Written, but to fewer in-sync replicas than required.",
        ErrorCode.InvalidRequiredAcks => "The acks value is not valid.",
        ErrorCode.IllegalGeneration => "Group generation id is not valid.",
        ErrorCode.InconsistentGroupProtocol => "Member protocols do not match the group's.",
        ErrorCode.InvalidGroupId => "Group id is not valid.",
        ErrorCode.UnknownMemberId => "Member id is not known to the coordinator.",
        ErrorCode.InvalidSessionTimeout => "Session timeout is outside the allowed range.",
        ErrorCode.RebalanceInProgress => "Group is rebalancing; rejoin.",
        ErrorCode.InvalidCommitOffsetSize => "Offset commit is too large.",
        ErrorCode.TopicAuthorizationFailed => "Not authorized for the topic.",
        ErrorCode.GroupAuthorizationFailed => "Not authorized for the group.",
        ErrorCode.ClusterAuthorizationFailed => "Not authorized for the cluster operation.",
        ErrorCode.InvalidTimestamp => "Timestamp is outside the accepted range.",
        ErrorCode.UnsupportedSaslMechanism => "SASL mechanism is not enabled.",
        ErrorCode.IllegalSaslState => "Request is not allowed in the current SASL state.",
        ErrorCode.UnsupportedVersion => "API version is not supported.",
        ErrorCode.TopicAlreadyExists => "Topic already exists.",
        ErrorCode.InvalidPartitions => "Partition count is not valid.",
        ErrorCode.InvalidReplicationFactor => "Replication factor is not valid.",
        ErrorCode.InvalidReplicaAssignment => "Replica assignment is not valid.",
        ErrorCode.InvalidConfig => "Configuration is not valid.",
        ErrorCode.NotController => "This node is not the active controller.",
        ErrorCode.InvalidRequest => "Request is malformed or not valid for this broker.",
        ErrorCode.UnsupportedForMessageFormat => "Not supported by the topic's message format.",
        ErrorCode.PolicyViolation => "Request violates a configured policy.",
        ErrorCode.OutOfOrderSequenceNumber => "Producer sequence number is out of order.",
        ErrorCode.DuplicateSequenceNumber => "Producer sequence number is a duplicate.",
        ErrorCode.InvalidProducerEpoch => "Producer epoch is stale.",
        ErrorCode.InvalidTxnState => "Operation is not valid in the transaction's state.",
        ErrorCode.InvalidProducerIdMapping => "Producer id is not mapped to this transactional id.",
        ErrorCode.InvalidTransactionTimeout => "Transaction timeout exceeds the broker maximum.",
        ErrorCode.ConcurrentTransactions => "Another operation on this transaction is in progress.",
        ErrorCode.TransactionCoordinatorFenced => "Transaction coordinator has been superseded.",
        ErrorCode.TransactionalIdAuthorizationFailed => "Not authorized for the transactional id.",
        ErrorCode.SecurityDisabled => "Security features are turned off.",
        ErrorCode.OperationNotAttempted => "Operation skipped because another in the batch failed.",
        ErrorCode.KafkaStorageError => "Disk error while accessing the log.",
        ErrorCode.LogDirNotFound => "Log directory is not configured on this broker.",
        ErrorCode.SaslAuthenticationFailed => "SASL authentication failed.",
        ErrorCode.UnknownProducerId => "Producer id has no state on the broker.",
        ErrorCode.ReassignmentInProgress => "A partition reassignment is already running.",
        ErrorCode.DelegationTokenAuthDisabled => "Delegation tokens are disabled.",
        ErrorCode.DelegationTokenNotFound => "Delegation token does not exist.",
        ErrorCode.DelegationTokenOwnerMismatch => "Principal is not the token's owner or renewer.",
        ErrorCode.DelegationTokenRequestNotAllowed => "Token requests are not allowed on this channel.",
        ErrorCode.DelegationTokenAuthorizationFailed => "Not authorized for the delegation token.",
        ErrorCode.DelegationTokenExpired => "Delegation token has expired.",
        ErrorCode.InvalidPrincipalType => "Principal type is not supported.",
        ErrorCode.NonEmptyGroup => "Group still has members.",
        ErrorCode.GroupIdNotFound => "Group does not exist.",
        ErrorCode.FetchSessionIdNotFound => "Fetch session does not exist.",
        ErrorCode.InvalidFetchSessionEpoch => "Fetch session epoch does not match.",
        ErrorCode.ListenerNotFound => "Leader has no listener matching this request's listener.",
        ErrorCode.TopicDeletionDisabled => "Topic deletion is turned off.",
        ErrorCode.FencedLeaderEpoch => "Request's leader epoch is older than the broker's.",
        ErrorCode.UnknownLeaderEpoch => "Request's leader epoch is newer than the broker's.",
        ErrorCode.UnsupportedCompressionType => "Client cannot handle the partition's compression.",
        ErrorCode.StaleBrokerEpoch => "Broker epoch is stale.",
        ErrorCode.OffsetNotAvailable => "Offset not yet safe to expose after a leader change.",
        ErrorCode.MemberIdRequired => "Member must rejoin with the assigned member id.",
        ErrorCode.PreferredLeaderNotAvailable => "Preferred leader cannot take leadership.",
        ErrorCode.GroupMaxSizeReached => "Group is at its maximum size.",
        ErrorCode.FencedInstanceId => "Static member instance id is owned by another member.",
        ErrorCode.EligibleLeadersNotAvailable => "No eligible leader is available.",
        ErrorCode.ElectionNotNeeded => "Leader election is not needed.",
        ErrorCode.NoReassignmentInProgress => "No partition reassignment is running.",
        ErrorCode.GroupSubscribedToTopic => "Cannot delete offsets of a topic the group consumes.",
        ErrorCode.InvalidRecord => "Record was rejected by broker-side validation.",
        ErrorCode.UnstableOffsetCommit => "Pending transactional offsets must settle first.",
        ErrorCode.ThrottlingQuotaExceeded => "Throttling quota exceeded.",
        ErrorCode.ProducerFenced => "A newer producer with the same transactional id exists.",
        ErrorCode.ResourceNotFound => "Referenced resource does not exist.",
        ErrorCode.DuplicateResource => "Same resource referenced more than once.",
        ErrorCode.UnacceptableCredential => "Credential does not meet the acceptance rules.",
        ErrorCode.InconsistentVoterSet => "Sender or receiver is not in the expected voter set.",
        ErrorCode.InvalidUpdateVersion => "Feature update version is not valid.",
        ErrorCode.FeatureUpdateFailed => "Finalized features could not be updated.",
        ErrorCode.PrincipalDeserializationFailure => "Forwarded principal could not be decoded.",
        ErrorCode.SnapshotNotFound => "Snapshot does not exist.",
        ErrorCode.PositionOutOfRange => "Position is outside the snapshot.",
        ErrorCode.UnknownTopicId => "Topic id is not hosted here.",
        ErrorCode.DuplicateBrokerRegistration => "Broker id is already registered.",
        ErrorCode.BrokerIdNotRegistered => "Broker id is not registered.",
        ErrorCode.InconsistentTopicId => "Topic id does not match the log's topic id.",
        ErrorCode.InconsistentClusterId => "Cluster id does not match this cluster.",
        ErrorCode.TransactionalIdNotFound => "Transactional id does not exist.",
        ErrorCode.FetchSessionTopicIdError => "Fetch session used topic ids inconsistently.",
        ErrorCode.IneligibleReplica => "Proposed ISR contains an ineligible replica.",
        ErrorCode.NewLeaderElected => "Partition updated, but a new leader was elected.",
        ErrorCode.OffsetMovedToTieredStorage => "Offset now lives in tiered storage.",
        ErrorCode.FencedMemberEpoch => "Member epoch fenced; member must rejoin.",
        ErrorCode.UnreleasedInstanceId => "Instance id is still held by another member.",
        ErrorCode.UnsupportedAssignor => "Assignor (or its version) is not supported.",
        ErrorCode.StaleMemberEpoch => "Member epoch is stale; retry with the current one.",
        ErrorCode.MismatchedEndpointType => "Request sent to the wrong kind of endpoint.",
        ErrorCode.UnsupportedEndpointType => "Endpoint type is not supported.",
        ErrorCode.UnknownControllerId => "Controller id is not known.",
        ErrorCode.UnknownSubscriptionId => "Telemetry subscription id is unknown or outdated.",
        ErrorCode.TelemetryTooLarge => "Telemetry payload is too large.",
        ErrorCode.InvalidRegistration => "Controller rejected the broker registration.",
        ErrorCode.TransactionAbortable => "Transaction failed; abort it to continue.",
        ErrorCode.InvalidRecordState => "Record state does not allow the acknowledgement.",
        ErrorCode.ShareSessionNotFound => "Share session does not exist.",
        ErrorCode.InvalidShareSessionEpoch => "Share session epoch does not match.",
        ErrorCode.FencedStateEpoch => "Share-group state epoch does not match.",
        ErrorCode.InvalidVoterKey => "Voter key does not match this replica.",
        ErrorCode.DuplicateVoter => "Voter is already in the voter set.",
        ErrorCode.VoterNotFound => "Voter is not in the voter set.",
        ErrorCode.InvalidRegularExpression => "Regular expression is not valid.",
        ErrorCode.RebootstrapRequired => "Client metadata is stale; rebootstrap.",
        ErrorCode.StreamsInvalidTopology => "Streams topology is not valid.",
        ErrorCode.StreamsInvalidTopologyEpoch => "Streams topology epoch is not valid.",
        ErrorCode.StreamsTopologyFenced => "Streams topology epoch is outdated.",
        ErrorCode.ShareSessionLimitReached => "Share session limit reached.",
        _ => "Unknown error code " + ((short)code).ToString(System.Globalization.CultureInfo.InvariantCulture) + ".",
    };
}
