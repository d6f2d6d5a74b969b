using System.Collections.Concurrent;
using Fjord.Metadata;
using Fjord.Raft;

namespace Fjord.Server.Node;

/// <summary>
/// Carries what the metadata quorum committed from the Raft driver's thread to the broker's own
/// metadata thread, where the <see cref="MetadataLoader"/> turns it into images for the publishers
/// (the replica manager creates and deletes logs there, which must never stall Raft).
/// </summary>
/// <remarks>
/// Items are applied in the order the driver committed them; the queue is unbounded because the
/// driver must not block (a broker far behind holds at most what it has yet to apply). A loader or
/// publisher failure is reported once through <paramref name="output"/> and kept in <see cref="Fault"/>;
/// the loader then refuses further items (its image would no longer be the log's).
/// </remarks>
public sealed class BrokerMetadataPump : IDisposable
{
    private readonly BlockingCollection<CommittedItem> _items = [];
    private readonly MetadataLoader _loader;
    private readonly Action<string> _output;
    private readonly Thread _thread;
    private long _appliedOffset = -1;
    private long _firstAppliedNextOffset = -1;
    private volatile Exception? _fault;
    private PendingInstall? _pending;
    private volatile bool _installed;

    public BrokerMetadataPump(int nodeId, MetadataLoader loader, Action<string> output)
    {
        _loader = loader ?? throw new ArgumentNullException(nameof(loader));
        _output = output ?? throw new ArgumentNullException(nameof(output));
        _thread = new Thread(Run) { IsBackground = true, Name = $"broker-{nodeId}-metadata" };
        _thread.Start();
    }

    /// <summary>The offset of the last metadata record the broker's image includes; -1 before any.</summary>
    public long AppliedOffset => Interlocked.Read(ref _appliedOffset);

    public Exception? Fault => _fault;

    public MetadataImage Image => _loader.Image;

    /// <summary>Called by the Raft driver with every committed item, in order.</summary>
    public void Enqueue(CommittedItem item)
    {
        if (!_items.IsAddingCompleted) _items.TryAdd(item);
    }

    /// <summary>
    /// Installs <paramref name="publisher"/> in the loader (on the pump's thread, so never concurrently
    /// with an item being applied) once the applied offset reaches <paramref name="catchUpOffset"/>
    /// (negative: not known yet, keep waiting). The broker passes its replica manager and its broker
    /// epoch (the offset of its own registration record): a restarted broker must not act on the
    /// stale image on its disk (leader in an old epoch, with an old ISR), which would let it accept
    /// writes or answer its former followers with a diverging epoch and make them truncate
    /// acknowledged records. By the registration's offset the image has the old incarnation fenced
    /// and its leaderships moved (the controller does both in the registration's batch).
    /// </summary>
    public void InstallWhenCaughtUp(IMetadataPublisher publisher, Func<long> catchUpOffset)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        ArgumentNullException.ThrowIfNull(catchUpOffset);
        Volatile.Write(ref _pending, new PendingInstall(publisher, catchUpOffset));
    }

    /// <summary>Whether the publisher given to <see cref="InstallWhenCaughtUp"/> was installed.</summary>
    public bool DeferredPublisherInstalled => _installed;

    private sealed record PendingInstall(IMetadataPublisher Publisher, Func<long> CatchUpOffset);

    private void InstallIfCaughtUp()
    {
        if (Volatile.Read(ref _pending) is not { } pending || _fault is not null) return;
        long target = pending.CatchUpOffset();
        if (target < 0 || _loader.NextOffset - 1 < target) return;
        Volatile.Write(ref _pending, null);
        try
        {
            _loader.Install(pending.Publisher);
            _installed = true;
            _output($"metadata: broker caught up to offset {_loader.NextOffset - 1} (its registration is at {target}); the replica manager now follows the image");
        }
        catch (Exception e)
        {
            _fault = e;
            _output($"metadata: installing a publisher at offset {_loader.NextOffset - 1} failed: {e.Message}");
        }
    }

    private void Run()
    {
        while (!_items.IsCompleted)
        {
            CommittedItem? item;
            try
            {
                if (!_items.TryTake(out item, 50)) { InstallIfCaughtUp(); continue; }
            }
            catch (InvalidOperationException)
            {
                break; // completed while waiting
            }
            if (_fault is not null) continue;
            try
            {
                _loader.Handle(item);
            }
            catch (Exception e)
            {
                _fault = e;
                _output($"metadata: the broker's metadata loader failed at offset {item.NextOffset - 1}: {e.Message}");
                continue;
            }
            if (Interlocked.CompareExchange(ref _firstAppliedNextOffset, item.NextOffset, -1) == -1 && item is SnapshotLoad snapshot)
                _output($"metadata: broker loaded snapshot {snapshot.Id.Offset}-{snapshot.Id.Epoch}");
            InstallIfCaughtUp();
            Interlocked.Exchange(ref _appliedOffset, _loader.NextOffset - 1);
        }
    }

    public void Dispose()
    {
        _items.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(10));
        _items.Dispose();
    }
}
