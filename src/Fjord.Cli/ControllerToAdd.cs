using Fjord.Common;
using Fjord.Raft;
using Fjord.Server;
using Fjord.Server.Controller;

namespace Fjord.Cli;

/// <summary>A controller's configuration cannot tell who it is (node id, endpoint, directory id).</summary>
public sealed class ControllerToAddException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// What <c>metadata-quorum add-controller --command-config FILE</c> asks the leader to add: the node
/// id of that controller's <c>server.properties</c>, its endpoint (<see cref="ControllerServer.VoterEndpoint"/>:
/// the first controller listener as advertised, the same one the controller announces itself), and
/// the directory id of <c>meta.properties</c> in its <c>metadata.log.dir</c> (written by
/// <c>storage format --no-initial-controllers</c>). Also its cluster id, so that a controller of
/// another cluster is refused by the leader (INCONSISTENT_CLUSTER_ID).
/// </summary>
public sealed record ControllerToAdd(int NodeId, Uuid DirectoryId, string ClusterId, IReadOnlyList<RaftEndpoint> Endpoints)
{
    /// <summary>Reads <paramref name="configPath"/> and the <c>meta.properties</c> it leads to; throws
    /// <see cref="ControllerToAddException"/> with one line saying what is wrong.</summary>
    public static ControllerToAdd Read(string configPath)
    {
        ArgumentNullException.ThrowIfNull(configPath);
        ServerConfig config;
        try
        {
            config = ServerConfig.Load(configPath);
        }
        catch (Exception e) when (e is ConfigException or PropertiesFormatException or IOException or UnauthorizedAccessException)
        {
            throw new ControllerToAddException($"cannot read the controller's configuration {configPath}: {e.Message}", e);
        }
        if (!config.IsController)
            throw new ControllerToAddException($"{configPath} is not a controller's configuration (process.roles has no controller)");
        RaftEndpoint endpoint;
        try
        {
            endpoint = ControllerServer.VoterEndpoint(config);
        }
        catch (ConfigException e)
        {
            throw new ControllerToAddException($"{configPath}: {e.Message}", e);
        }
        if (endpoint.Port == 0)
            throw new ControllerToAddException($"{configPath}: the controller listener {endpoint} has port 0; give the port it listens on (listeners or advertised.listeners)");

        MetaProperties? meta;
        try
        {
            meta = MetaProperties.ReadFrom(config.MetadataLogDir);
        }
        catch (MetaPropertiesException e)
        {
            throw new ControllerToAddException(e.Message, e);
        }
        if (meta is null)
            throw new ControllerToAddException($"the metadata log directory {config.MetadataLogDir} of {configPath} is not formatted (no {MetaProperties.FileName}): " +
                                               "format it first with 'fjord storage format --config FILE --cluster-id ID --no-initial-controllers'");
        if (meta.Version != 1 || meta.DirectoryId is not { } directoryId || directoryId.IsZero)
            throw new ControllerToAddException($"{MetaProperties.PathIn(config.MetadataLogDir)} has no {MetaProperties.DirectoryIdKey}: the controller cannot be a voter of a dynamic quorum");
        if (meta.NodeId != config.NodeId)
            throw new ControllerToAddException($"{MetaProperties.PathIn(config.MetadataLogDir)} belongs to node {meta.NodeId}, but {configPath} says node.id={config.NodeId}");
        return new ControllerToAdd(config.NodeId, directoryId, meta.ClusterId!, [endpoint]);
    }
}
