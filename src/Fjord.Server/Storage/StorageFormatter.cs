using System.Globalization;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Storage;

namespace Fjord.Server;

/// <summary>The format request cannot be carried out; the message says why (Kafka's wording where Kafka has one).</summary>
public sealed class StorageFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The flags of <c>fjord storage format</c> (those of <c>kafka-storage format</c>).</summary>
public sealed record FormatOptions
{
    /// <summary><c>--cluster-id</c>: the cluster's id, a Kafka Uuid (<c>fjord storage random-uuid</c>).</summary>
    public required string ClusterId { get; init; }

    /// <summary><c>--ignore-formatted</c>: skip directories that are already formatted instead of failing.</summary>
    public bool IgnoreFormatted { get; init; }

    /// <summary><c>--release-version</c>: <c>3.9</c> or <c>3.9-IV0</c>.</summary>
    public string? ReleaseVersion { get; init; }

    /// <summary><c>--feature name=level</c>: <c>metadata.version</c> and <c>kraft.version</c>.</summary>
    public IReadOnlyList<string> Features { get; init; } = [];

    /// <summary><c>--add-scram</c> arguments (<see cref="ScramArgument"/>).</summary>
    public IReadOnlyList<string> ScramArguments { get; init; } = [];

    /// <summary><c>--standalone</c>: this controller is the only initial voter of a dynamic quorum.</summary>
    public bool Standalone { get; init; }

    /// <summary><c>--initial-controllers id@host:port:directoryId,...</c>: the initial voters of a dynamic quorum.</summary>
    public string? InitialControllers { get; init; }

    /// <summary><c>--no-initial-controllers</c>: a dynamic quorum member that is not an initial voter.</summary>
    public bool NoInitialControllers { get; init; }
}

/// <summary>One directory formatted by a run.</summary>
public sealed record FormattedDirectory(string Path, string Kind, Uuid DirectoryId);

/// <summary>What a format run decided and did.</summary>
public sealed record FormatResult(
    MetadataVersion MetadataVersion,
    short KRaftVersion,
    IReadOnlyList<MetadataRecord> BootstrapRecords,
    InitialVoters? InitialVoters,
    IReadOnlyList<FormattedDirectory> Formatted,
    IReadOnlyList<string> AlreadyFormatted);

/// <summary>
/// What <c>kafka-storage format</c> does (Kafka's <c>StorageTool</c> and <c>Formatter</c>): for every
/// log dir and the metadata log dir, refuse one that is already formatted (or skip it with
/// <see cref="FormatOptions.IgnoreFormatted"/>), create it and write its <c>meta.properties</c> with a
/// fresh <c>directory.id</c>; in the metadata log dir also write <c>bootstrap.checkpoint</c> (the
/// <c>metadata.version</c> FeatureLevelRecord and any SCRAM credentials) and, when the initial voters
/// of a dynamic quorum are given (<c>--standalone</c>, <c>--initial-controllers</c>),
/// <c>__cluster_metadata-0/00000000000000000000-0000000000.checkpoint</c> holding the KRAFT_VERSION
/// and KRAFT_VOTERS control records (Kafka 3.9's layout). With <c>--no-initial-controllers</c> the
/// node joins a dynamic quorum (kraft.version 1) and learns the voters from it.
/// </summary>
/// <remarks>
/// Everything is checked before anything is written. Within a directory <c>meta.properties</c> is
/// written last, so a directory left half-done by a crash still counts as unformatted and the next
/// run redoes it (stale bootstrap files are replaced).
/// </remarks>
public sealed class StorageFormatter(ServerConfig config, TextWriter output, IClock? clock = null)
{
    public const string ClusterMetadataDirectory = "__cluster_metadata-0";
    public const string KRaftVersionFeature = "kraft.version";

    private readonly IClock _clock = clock ?? SystemClock.Instance;

    public FormatResult Format(FormatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckClusterId(options.ClusterId);
        var features = ParseFeatures(options.Features);
        var metadataVersion = EffectiveMetadataVersion(options, features);
        var voters = InitialVotersFor(options);
        bool dynamicQuorum = voters is not null || options.NoInitialControllers;
        short kraftVersion = EffectiveKRaftVersion(features, dynamicQuorum, metadataVersion);
        var records = BootstrapRecords(metadataVersion, options.ScramArguments);

        var directories = config.AllLogDirs;
        var existing = new Dictionary<string, MetaProperties>(StringComparer.Ordinal);
        foreach (var state in StorageCheck.Inspect(directories))
        {
            if (state.Error is not null) throw new StorageFormatException(state.Error);
            if (state.Meta is null) continue;
            CheckMatches(state.Path, state.Meta, options.ClusterId);
            existing[state.Path] = state.Meta;
        }
        if (existing.Count > 0 && !options.IgnoreFormatted)
            throw new StorageFormatException($"Log directory {existing.Keys.First()} is already formatted. " +
                                             "Use --ignore-formatted to ignore this directory and format the others.");
        if (existing.Count == directories.Count)
        {
            output.WriteLine("All of the log directories are already formatted.");
            return new FormatResult(metadataVersion, kraftVersion, records, voters, [], existing.Keys.ToList());
        }

        var usedIds = new HashSet<Uuid>(existing.Values.Where(m => m.DirectoryId is not null).Select(m => m.DirectoryId!.Value));
        if (voters is not null) usedIds.UnionWith(voters.Voters.Select(v => v.DirectoryId));
        var plan = new List<FormattedDirectory>();
        foreach (var dir in directories.Where(d => !existing.ContainsKey(d)))
        {
            bool isMetadata = dir == config.MetadataLogDir;
            var voter = isMetadata ? voters?.Find(config.NodeId) : null;
            string kind = !isMetadata ? "data directory"
                : voters is null ? "metadata directory"
                : voter is not null ? "dynamic metadata voter directory"
                : "dynamic metadata directory";
            plan.Add(new FormattedDirectory(dir, kind, voter?.DirectoryId ?? NewDirectoryId(usedIds)));
        }

        foreach (var dir in plan)
        {
            output.WriteLine($"Formatting {dir.Path} with {MetadataVersion.FeatureName} {metadataVersion}.");
            try
            {
                Directory.CreateDirectory(dir.Path);
                if (dir.Path == config.MetadataLogDir)
                {
                    BootstrapMetadataFile.Write(dir.Path, records, _clock);
                    if (voters is not null) WriteVotersSnapshot(dir.Path, voters, kraftVersion);
                }
                MetaProperties.V1(options.ClusterId, config.NodeId, dir.DirectoryId).WriteTo(dir.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or StorageException or MetaPropertiesException)
            {
                throw new StorageFormatException($"Error while formatting {dir.Path}: {e.Message}", e);
            }
        }
        return new FormatResult(metadataVersion, kraftVersion, records, voters, plan, existing.Keys.ToList());
    }

    // ---- checks and decisions, before anything is written ----

    private static void CheckClusterId(string clusterId)
    {
        if (!Uuid.TryParse(clusterId, out var id) || id.IsZero)
            throw new StorageFormatException($"Cluster ID string {clusterId} does not appear to be a valid UUID " +
                                             "(22 characters of URL-safe base64; make one with 'fjord storage random-uuid')");
    }

    private static Dictionary<string, short> ParseFeatures(IReadOnlyList<string> features)
    {
        var levels = new Dictionary<string, short>(StringComparer.Ordinal);
        foreach (var feature in features)
        {
            int equals = feature.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
                throw new StorageFormatException($"Can't parse feature=level string {feature}: equals sign not found.");
            var name = feature[..equals].Trim();
            var levelText = feature[(equals + 1)..].Trim();
            if (!short.TryParse(levelText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out short level))
                throw new StorageFormatException($"Can't parse feature=level string {feature}: unable to parse {levelText} as a short.");
            if (name is not (MetadataVersion.FeatureName or KRaftVersionFeature))
                throw new StorageFormatException($"Unsupported feature: {name}. Supported features are: {KRaftVersionFeature}, {MetadataVersion.FeatureName}");
            levels[name] = level;
        }
        return levels;
    }

    private MetadataVersion EffectiveMetadataVersion(FormatOptions options, Dictionary<string, short> features)
    {
        MetadataVersion version;
        if (features.TryGetValue(MetadataVersion.FeatureName, out short level))
        {
            if (options.ReleaseVersion is not null)
                throw new StorageFormatException($"Use --release-version instead of --feature {MetadataVersion.FeatureName}=X to avoid ambiguity.");
            try { version = MetadataVersion.FromFeatureLevel(level); }
            catch (ArgumentException) { throw new StorageFormatException($"Unknown {MetadataVersion.FeatureName} level {level}."); }
        }
        else if (options.ReleaseVersion is not null)
        {
            try { version = MetadataVersion.FromVersionString(options.ReleaseVersion); }
            catch (ArgumentException e) { throw new StorageFormatException(e.Message.Split(" (Parameter")[0]); }
        }
        else
        {
            return config.UnstableFeatureVersionsEnable ? MetadataVersion.LatestTesting : MetadataVersion.LatestProduction;
        }
        if (version.FeatureLevel < MetadataVersion.MinimumBootstrapVersion.FeatureLevel)
            throw new StorageFormatException($"{MetadataVersion.FeatureName} {version} is too old to be supported: " +
                                             $"a new cluster needs {MetadataVersion.MinimumBootstrapVersion.Describe()} or later.");
        if (!version.IsProduction && !config.UnstableFeatureVersionsEnable)
            throw new StorageFormatException($"{MetadataVersion.FeatureName} {version} is not yet stable " +
                                             $"(set {ServerConfigKeys.UnstableFeatureVersionsEnable}=true to use it for testing).");
        return version;
    }

    private InitialVoters? InitialVotersFor(FormatOptions options)
    {
        int chosen = (options.Standalone ? 1 : 0) + (options.InitialControllers is not null ? 1 : 0) + (options.NoInitialControllers ? 1 : 0);
        if (chosen > 1)
            throw new StorageFormatException("--standalone, --initial-controllers and --no-initial-controllers are mutually exclusive.");
        bool staticVoters = config.QuorumVoters.Count > 0;
        if (staticVoters && (options.Standalone || options.InitialControllers is not null))
            throw new StorageFormatException($"You cannot specify {ServerConfigKeys.QuorumVoters} and format the node with --initial-controllers or --standalone. " +
                                             $"If you want to use dynamic quorum, please remove {ServerConfigKeys.QuorumVoters} and specify {ServerConfigKeys.QuorumBootstrapServers} instead.");
        if (options.Standalone)
        {
            if (!config.IsController) throw new StorageFormatException("You can only use --standalone on a controller.");
            var listener = config.AdvertisedControllerListeners.FirstOrDefault()
                ?? throw new StorageFormatException("No controller listeners found.");
            string host = listener.Host.Length == 0 ? "localhost" : listener.Host;
            return InitialVoters.Of([new InitialVoter(config.NodeId, host, listener.Port, Uuid.NewRandom())]);
        }
        if (options.InitialControllers is not null)
        {
            if (!config.IsController) throw new StorageFormatException("You can only use --initial-controllers on a controller.");
            return InitialVoters.Parse(options.InitialControllers);
        }
        if (!options.NoInitialControllers && config.IsController && !staticVoters)
            throw new StorageFormatException($"Because {ServerConfigKeys.QuorumVoters} is not set on this controller, you must specify one of the following: " +
                                             "--standalone, --initial-controllers, or --no-initial-controllers.");
        return null;
    }

    private static short EffectiveKRaftVersion(Dictionary<string, short> features, bool dynamicQuorum, MetadataVersion metadataVersion)
    {
        short level;
        if (features.TryGetValue(KRaftVersionFeature, out level))
        {
            if (level is not (0 or 1))
                throw new StorageFormatException($"Unknown {KRaftVersionFeature} level {level} (0 or 1).");
            if (level == 0 && dynamicQuorum)
                throw new StorageFormatException($"Cannot set {KRaftVersionFeature} to 0 if KIP-853 configuration is present. Try removing the --feature flag for {KRaftVersionFeature}.");
            if (level != 0 && !dynamicQuorum)
                throw new StorageFormatException($"Cannot set {KRaftVersionFeature} to {level} unless KIP-853 configuration is present. Try removing the --feature flag for {KRaftVersionFeature}.");
        }
        else
        {
            level = dynamicQuorum ? (short)1 : (short)0;
        }
        if (level == 1 && !metadataVersion.IsKRaftVersion1Supported)
            throw new StorageFormatException($"{KRaftVersionFeature} 1 (a dynamic quorum) needs {MetadataVersion.FeatureName} " +
                                             $"{MetadataVersion.FromFeatureLevel(21)} or later, but the cluster would start at {metadataVersion}.");
        return level;
    }

    private static List<MetadataRecord> BootstrapRecords(MetadataVersion metadataVersion, IReadOnlyList<string> scramArguments)
    {
        var records = new List<MetadataRecord>
        {
            new(new FeatureLevelRecord { Name = MetadataVersion.FeatureName, FeatureLevel = metadataVersion.FeatureLevel }, 0),
        };
        if (scramArguments.Count > 0)
        {
            if (!metadataVersion.IsScramSupported)
                throw new StorageFormatException($"SCRAM is only supported in {MetadataVersion.FeatureName} {MetadataVersion.FromFeatureLevel(11)} or later.");
            foreach (var argument in scramArguments) records.Add(new MetadataRecord(ScramArgument.Parse(argument), 0));
        }
        return records;
    }

    private void CheckMatches(string dir, MetaProperties meta, string clusterId)
    {
        var path = MetaProperties.PathIn(dir);
        if (meta.Version != 1)
            throw new StorageFormatException($"{path} is from a ZooKeeper-based cluster (version {meta.Version}); Fjord formats only KRaft directories.");
        if (meta.ClusterId != clusterId)
            throw new StorageFormatException($"Invalid cluster.id in {path}: expected {clusterId}, but read {meta.ClusterId}.");
        if (meta.NodeId != config.NodeId)
            throw new StorageFormatException($"Stored node id {meta.NodeId} in {path} does not match node.id {config.NodeId} of the configuration. " +
                                             "If you moved your data, make sure the configured node.id matches; for a new node, remove the data in the directories.");
    }

    private static Uuid NewDirectoryId(HashSet<Uuid> used)
    {
        while (true)
        {
            var id = Uuid.NewRandom();
            if (used.Add(id)) return id;
        }
    }

    private void WriteVotersSnapshot(string metadataDir, InitialVoters voters, short kraftVersion)
    {
        var directory = Path.Combine(metadataDir, ClusterMetadataDirectory);
        var id = new SnapshotId(0, 0);
        var path = SnapshotFiles.PathOf(directory, id);
        if (File.Exists(path)) File.Delete(path); // left by an interrupted format of this (unformatted) directory
        var control = new List<(ControlRecordType, byte[])>
        {
            (ControlRecordType.KRaftVersion, new KRaftVersionRecord { Version = 0, KRaftVersion = kraftVersion }.Serialize(0)),
            (ControlRecordType.KRaftVoters, voters.ToVotersRecord(config.ControllerListenerNames[0]).Serialize(0)),
        };
        using var writer = SnapshotWriter.Create(directory, id, _clock.UnixTimeMs, _clock, headerControlRecords: control);
        writer.Freeze();
    }
}
