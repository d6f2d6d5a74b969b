using Fjord.Common;

namespace Fjord.Server.Node;

/// <summary>
/// The dev quick-start (<c>fjord server start --dev [--data DIR]</c>): one combined node
/// (<c>process.roles=broker,controller</c>, node 1, the only voter) with its broker listener on
/// 127.0.0.1:9092 and its controller listener on 127.0.0.1:9093, keeping everything under one
/// data directory. The only place Fjord formats storage by itself.
/// </summary>
/// <remarks>
/// <see cref="Prepare"/> writes <c>&lt;DIR&gt;/server.properties</c> on first use (and reads it back
/// afterwards, so an operator may edit it), then formats <c>&lt;DIR&gt;/logs</c> with a new cluster
/// id when it is not formatted yet. A directory formatted for another node or cluster is refused by
/// the ordinary start-up check, like any other.
/// </remarks>
public static class DevNode
{
    public const string DefaultDataDirectory = "fjord-dev-data";
    public const string ConfigFileName = "server.properties";

    /// <summary>The properties of a dev node whose data lives in <paramref name="dataDirectory"/>.</summary>
    public static string ConfigText(string dataDirectory, int brokerPort = 9092, int controllerPort = 9093) => $"""
        # Fjord dev node: one combined broker + controller, written by `fjord server start --dev`.
        process.roles=broker,controller
        node.id=1
        controller.quorum.voters=1@127.0.0.1:{controllerPort}
        listeners=PLAINTEXT://127.0.0.1:{brokerPort},CONTROLLER://127.0.0.1:{controllerPort}
        advertised.listeners=PLAINTEXT://127.0.0.1:{brokerPort}
        listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
        controller.listener.names=CONTROLLER
        inter.broker.listener.name=PLAINTEXT
        log.dirs={PropertiesFile.Escape(Path.Combine(Path.GetFullPath(dataDirectory), "logs"), isKey: false)}
        num.partitions=1
        default.replication.factor=1
        min.insync.replicas=1
        offsets.topic.replication.factor=1
        transaction.state.log.replication.factor=1
        transaction.state.log.min.isr=1
        auto.create.topics.enable=true
        """ + "\n";

    /// <summary>
    /// Makes <paramref name="dataDirectory"/> ready to run a dev node and returns its config: the
    /// config file is written if missing, the storage formatted if unformatted (one line on
    /// <paramref name="output"/> saying so).
    /// </summary>
    public static ServerConfig Prepare(string dataDirectory, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        ArgumentNullException.ThrowIfNull(output);
        Directory.CreateDirectory(dataDirectory);
        var configPath = Path.Combine(dataDirectory, ConfigFileName);
        if (!File.Exists(configPath))
        {
            File.WriteAllText(configPath + ".tmp", ConfigText(dataDirectory));
            File.Move(configPath + ".tmp", configPath, overwrite: true);
        }
        var config = ServerConfig.Load(configPath);
        if (StorageCheck.Inspect(config.AllLogDirs).All(d => !d.IsFormatted))
        {
            var clusterId = Uuid.NewRandom().ToString();
            output.WriteLine($"fjord: formatting {Path.GetFullPath(dataDirectory)} for a new dev cluster {clusterId}");
            new StorageFormatter(config, output).Format(new FormatOptions { ClusterId = clusterId });
        }
        return config;
    }
}
