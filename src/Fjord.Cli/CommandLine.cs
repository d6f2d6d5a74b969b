using System.Reflection;
using Fjord.Protocol;

namespace Fjord.Cli;

/// <summary>
/// The <c>fjord</c> executable's top level: one verb per operator task, each with Kafka-style
/// flags. Verbs are added as the subsystems behind them exist.
/// </summary>
public static class CommandLine
{
    private sealed record Verb(string Name, string Summary, Func<string[], TextWriter, TextWriter, int> Run);

    private static readonly Verb[] Verbs =
    [
        new("version", "print Fjord's version and the Kafka API versions it knows", Version),
        new("apis", "list every Kafka API with its version range and listeners", Apis),
        new("storage", "format and inspect log directories (random-uuid, format, info)", StorageCommand.Run),
        new("server", "run a node: server start --config FILE (broker, controller or both) | server start --dev (one node on localhost:9092)", ServerCommand.Run),
        new("perf", "load tools: perf produce | consume --bootstrap-server HOST:PORT --topic T --num-records N (kafka-*-perf-test)", PerfCommand.Run),
        new("metadata-quorum", "the KRaft quorum: --bootstrap-controller HOST:PORT | --bootstrap-server HOST:PORT describe --status | --replication; add-controller, remove-controller", MetadataQuorumCommand.Run),
        new("metadata-shell", "browse the cluster metadata as files: --snapshot FILE | --directory DIR | --bootstrap-controller HOST:PORT | --bootstrap-server HOST:PORT [-- COMMAND]", Shell.MetadataShellCommand.Run),
        new("dump-log", "dump log segments, snapshots and indexes: --files F,... [--deep-iteration] [--cluster-metadata-decoder] [--json]", DumpLogCommand.Run),
        new("topics", "create, delete, alter, list and describe topics: --bootstrap-server H:P --create|--delete|--alter|--list|--describe (kafka-topics)", Admin.TopicsCommand.Run),
        new("configs", "describe and alter configs: --bootstrap-server H:P --entity-type topics|brokers|broker-defaults|users|clients --describe|--alter (kafka-configs)", Admin.ConfigsCommand.Run),
        new("client-quotas", "describe and alter client quotas: --bootstrap-server H:P --entity-type users|clients|ips --describe|--alter", Admin.ClientQuotasCommand.Run),
        new("acls", "add, remove and list ACLs: --bootstrap-server H:P --add|--remove|--list --topic T|--group G|--cluster --allow-principal P --operation OP (kafka-acls)", Admin.AclsCommand.Run),
        new("features", "feature levels: --bootstrap-server H:P describe | upgrade --metadata V | downgrade --metadata V [--unsafe] [--dry-run] (kafka-features)", Admin.FeaturesCommand.Run),
        new("console-producer", "write stdin lines as records: --bootstrap-server H:P --topic T [--property parse.key=true] (kafka-console-producer)", Admin.ConsoleProducerCommand.Run),
        new("console-consumer", "print records: --bootstrap-server H:P --topic T [--from-beginning] [--max-messages N] [--property print.key=true] (kafka-console-consumer)", Admin.ConsoleConsumerCommand.Run),
        new("consumer-groups", "list, describe (lag), delete groups and reset their offsets: --bootstrap-server H:P --list|--describe|--delete|--reset-offsets (kafka-consumer-groups)", Admin.ConsumerGroupsCommand.Run),
    ];

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintHelp(stdout);
            return 0;
        }
        var verb = Verbs.FirstOrDefault(v => v.Name == args[0]);
        if (verb is null)
        {
            stderr.WriteLine($"fjord: unknown command '{args[0]}'. Run 'fjord --help' for the list.");
            return 2;
        }
        return verb.Run(args[1..], stdout, stderr);
    }

    private static void PrintHelp(TextWriter o)
    {
        o.WriteLine("fjord — a Kafka-compatible event-streaming platform with a built-in KRaft metadata quorum");
        o.WriteLine();
        o.WriteLine("usage: fjord <command> [options]");
        o.WriteLine();
        o.WriteLine("commands:");
        foreach (var v in Verbs) o.WriteLine($"  {v.Name,-16} {v.Summary}");
        o.WriteLine();
        o.WriteLine("'fjord <command> --help' describes a command.");
    }

    private static string FjordVersion() =>
        typeof(CommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private static int Version(string[] args, TextWriter o, TextWriter e)
    {
        o.WriteLine($"fjord {FjordVersion()}");
        o.WriteLine($"{KafkaApis.All.Count} Kafka APIs, {MetadataRecordTypes.All.Count} metadata record types");
        return 0;
    }

    private static int Apis(string[] args, TextWriter o, TextWriter e)
    {
        if (args.Contains("--help")) { o.WriteLine("usage: fjord apis\n  one line per Kafka API: key, name, versions, first flexible version, listeners"); return 0; }
        o.WriteLine($"{"KEY",4}  {"NAME",-32} {"VERSIONS",-9} {"FLEXIBLE",-9} LISTENERS");
        foreach (var api in KafkaApis.All)
            o.WriteLine($"{api.ApiKey,4}  {api.Name,-32} {api.Versions,-9} {api.FlexibleVersions,-9} {string.Join(",", api.Listeners)}");
        return 0;
    }
}
