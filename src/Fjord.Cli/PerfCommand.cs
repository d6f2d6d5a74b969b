using System.Globalization;
using Fjord.Cli.Perf;

namespace Fjord.Cli;

/// <summary>
/// <c>fjord perf produce | consume</c>: the load tools of kafka-producer-perf-test and
/// kafka-consumer-perf-test, on Fjord's own protocol client (<see cref="PerfProducer"/>,
/// <see cref="PerfConsumer"/>). A progress line every second, then the final figures.
/// </summary>
public static class PerfCommand
{
    private const string Usage = """
        usage: fjord perf produce --bootstrap-server HOST:PORT --topic T --num-records N --record-size B
                                  [--acks 0|1|all] [--throughput R] [--batch-size BYTES] [--linger-ms MS]
                                  [--max-in-flight N] [--partitions N] [--replication-factor R]
               fjord perf consume --bootstrap-server HOST:PORT --topic T --num-records N
                                  [--fetch-max-bytes B] [--max-partition-fetch-bytes B] [--timeout-ms MS]
          --throughput R      records per second at most (-1: no limit, the default)
          --batch-size BYTES  a batch goes out at this size (default 16384) or after --linger-ms (default 5)
          --partitions, --replication-factor   used when the topic is created (it is, when missing)
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, CancellationToken.None);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" || args.Contains("--help"))
        {
            stdout.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        Dictionary<string, string> flags;
        try
        {
            flags = ParseFlags(args[1..]);
        }
        catch (ArgumentException e)
        {
            return UsageError(stderr, e.Message);
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            switch (args[0])
            {
                case "produce":
                {
                    var options = new ProducerPerfOptions
                    {
                        BootstrapServers = Required(flags, "bootstrap-server"),
                        Topic = Required(flags, "topic"),
                        NumRecords = Long(flags, "num-records", null),
                        RecordSize = (int)Long(flags, "record-size", null),
                        Acks = flags.GetValueOrDefault("acks", "1") switch
                        {
                            "all" or "-1" => (short)-1,
                            "0" => (short)0,
                            "1" => (short)1,
                            var a => throw new ArgumentException($"--acks {a}: expected 0, 1 or all"),
                        },
                        Throughput = double.Parse(flags.GetValueOrDefault("throughput", "-1"), CultureInfo.InvariantCulture),
                        BatchSize = (int)Long(flags, "batch-size", 16384),
                        LingerMs = (int)Long(flags, "linger-ms", 5),
                        MaxInFlight = (int)Long(flags, "max-in-flight", 5),
                        Partitions = (int)Long(flags, "partitions", -1),
                        ReplicationFactor = (short)Long(flags, "replication-factor", -1),
                    };
                    var result = PerfProducer.RunAsync(options, stdout, cts.Token).GetAwaiter().GetResult();
                    stdout.WriteLine(result);
                    return result.FailedRecords > 0 ? 1 : 0;
                }
                case "consume":
                {
                    var options = new ConsumerPerfOptions
                    {
                        BootstrapServers = Required(flags, "bootstrap-server"),
                        Topic = Required(flags, "topic"),
                        NumRecords = Long(flags, "num-records", null),
                        FetchMaxBytes = (int)Long(flags, "fetch-max-bytes", 52_428_800),
                        MaxPartitionFetchBytes = (int)Long(flags, "max-partition-fetch-bytes", 1_048_576),
                        TimeoutMs = (int)Long(flags, "timeout-ms", 10_000),
                    };
                    var result = PerfConsumer.RunAsync(options, stdout, cts.Token).GetAwaiter().GetResult();
                    stdout.WriteLine(result);
                    return result.TimedOut ? 1 : 0;
                }
                default:
                    return UsageError(stderr, $"unknown perf mode '{args[0]}' (produce or consume)");
            }
        }
        catch (ArgumentException e)
        {
            return UsageError(stderr, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            stderr.WriteLine($"fjord: perf {args[0]} failed: {e.Message}");
            return 1;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static Dictionary<string, string> ParseFlags(string[] args)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument '{arg}'");
            string name = arg[2..], value;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (i + 1 < args.Length) value = args[++i];
            else throw new ArgumentException($"--{name} needs a value");
            flags[name] = value;
        }
        return flags;
    }

    private static string Required(Dictionary<string, string> flags, string name) =>
        flags.TryGetValue(name, out var v) ? v : throw new ArgumentException($"--{name} is required");

    private static long Long(Dictionary<string, string> flags, string name, long? fallback)
    {
        if (!flags.TryGetValue(name, out var v)) return fallback ?? throw new ArgumentException($"--{name} is required");
        return long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) ? n : throw new ArgumentException($"--{name} {v}: not a number");
    }

    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"fjord perf: {message}");
        stderr.WriteLine(Usage);
        return 2;
    }
}
