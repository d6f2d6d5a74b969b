using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Fjord.Benchmarks;

// One command runs every benchmark and prints each figure beside the reference it is held to:
//   dotnet run -c Release --project bench/Fjord.Benchmarks            (all)
//   dotnet run -c Release --project bench/Fjord.Benchmarks -- --filter '*Metadata*'
//   dotnet run -c Release --project bench/Fjord.Benchmarks -- controller-scale [--partitions N]   (only the controller at scale)
//   dotnet run -c Release --project bench/Fjord.Benchmarks -- broker [SECONDS] [--no-rf3|--rf3-only]   (one node, then RF=3 on 3 node processes, under perf produce, beside socket references)
if (args is ["broker", ..])
{
    BrokerBench.Run(args[1..]);
    return;
}
if (args is ["controller-scale", ..])
{
    ControllerScaleBench.Run(args[1..]);
    return;
}
var config = ManualConfig.Create(DefaultConfig.Instance)
    .AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10).WithId("fjord"))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableLogFile);
//   dotnet run -c Release --project bench/Fjord.Benchmarks -- storage   (only the storage throughput run)
//   dotnet run -c Release --project bench/Fjord.Benchmarks -- raft      (only the Raft commit run)
bool storageOnly = args is ["storage"];
bool raftOnly = args is ["raft"];
if (!storageOnly && !raftOnly)
{
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(Throughput).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
    Throughput.PrintTable(summaries);
}
if (args.Length == 0 || storageOnly)
    StorageThroughput.Run(Path.GetTempPath());
if (args.Length == 0 || raftOnly)
    RaftCommitBench.Run(Path.GetTempPath());
