using Fjord.Protocol.Metadata;
using Fjord.Protocol.Records;
using Fjord.Raft;

namespace Fjord.Metadata;

/// <summary>What a publication covers.</summary>
public enum MetadataUpdateKind
{
    /// <summary>The image was rebuilt from a snapshot; the delta's base is <see cref="MetadataImage.Empty"/>.</summary>
    Snapshot,

    /// <summary>Committed batches were applied on top of the previous image.</summary>
    LogDelta,
}

/// <summary>One publication: its kind, how many committed batches and metadata records it covers.</summary>
public sealed record MetadataUpdate(MetadataUpdateKind Kind, MetadataProvenance Provenance, int Batches, int Records);

/// <summary>Receives every new image the <see cref="MetadataLoader"/> publishes, on the loader's thread.</summary>
public interface IMetadataPublisher
{
    string Name { get; }

    /// <summary><paramref name="delta"/> leads from <c>delta.Image</c> (the previous image, or the
    /// empty image for a snapshot) to <paramref name="image"/>. Must not block for long.</summary>
    void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update);
}

/// <summary>
/// Turns what the quorum committed (<see cref="CommittedItem"/>s in offset order) into images and
/// hands each to the publishers.
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> Single-threaded: the thread that drains the Raft node's committed items
/// (the Raft driver thread) calls <see cref="Handle"/> and <see cref="Install"/>, and publishers are
/// called on it. <see cref="Image"/> may be read from any thread (it is an immutable object behind a
/// volatile field).</para>
/// <para><b>Publication.</b> Once per committed item: a <see cref="SnapshotLoad"/> publishes the
/// snapshot's image; a <see cref="CommittedBatch"/> (control batches and NoOp-only batches
/// included, so provenance keeps moving) publishes the image after its last record. Exception:
/// while a metadata transaction is open (BeginTransactionRecord … End/AbortTransactionRecord),
/// nothing is published; the changes before the Begin are published first (provenance = the
/// record before the Begin), the transaction's changes are published with the batch holding its
/// End, and an Abort discards them. So no publisher ever sees half a transaction.</para>
/// <para><b>Failure.</b> A batch that does not follow the previous one, a record that does not
/// decode, or one the delta refuses throws (<see cref="MetadataReplayException"/> names the offset);
/// the loader is then failed and refuses further items — its state is no longer the log's.
/// Publisher exceptions are collected and rethrown (as <see cref="AggregateException"/>) after
/// every publisher has seen the update; the loader itself stays consistent.</para>
/// </remarks>
public sealed class MetadataLoader
{
    private const int MaxBatchBytes = 64 * 1024 * 1024;

    private readonly List<IMetadataPublisher> _publishers = [];
    private volatile MetadataImage _image = MetadataImage.Empty;
    private MetadataDelta _delta;
    private long _nextOffset;
    private bool _inTransaction;
    private long _transactionStart = -1;
    private int _pendingBatches;
    private string? _failure;
    private List<Exception>? _publisherErrors;

    public MetadataLoader(IEnumerable<IMetadataPublisher>? publishers = null)
    {
        _delta = new MetadataDelta(_image);
        if (publishers is not null) _publishers.AddRange(publishers);
    }

    /// <summary>The last published image.</summary>
    public MetadataImage Image => _image;

    /// <summary>The offset the next committed batch must start at.</summary>
    public long NextOffset => _nextOffset;

    /// <summary>True while a metadata transaction is open (its changes unpublished).</summary>
    public bool InTransaction => _inTransaction;

    public IReadOnlyList<IMetadataPublisher> Publishers => _publishers;

    /// <summary>Adds a publisher; if an image was already published it first receives the whole
    /// current image as a delta from empty (kind <see cref="MetadataUpdateKind.Snapshot"/>).</summary>
    public void Install(IMetadataPublisher publisher)
    {
        ArgumentNullException.ThrowIfNull(publisher);
        _publishers.Add(publisher);
        var image = _image;
        if (ReferenceEquals(image, MetadataImage.Empty)) return;
        var records = new MetadataRecordList();
        image.Write(records);
        var delta = new MetadataDelta(MetadataImage.Empty);
        foreach (var r in records.Records) delta.Replay(r);
        publisher.OnMetadataUpdate(delta, image, new MetadataUpdate(MetadataUpdateKind.Snapshot, image.Provenance, 0, records.Records.Count));
    }

    public void Handle(CommittedItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (_failure is not null) throw new InvalidOperationException($"the metadata loader failed earlier ({_failure}) and accepts nothing more");
        try
        {
            switch (item)
            {
                case SnapshotLoad snapshot: HandleSnapshot(snapshot); break;
                case CommittedBatch batch: HandleBatch(batch); break;
                default: throw new ArgumentException($"unknown committed item {item.GetType().Name}", nameof(item));
            }
        }
        catch (Exception e) when (e is MetadataReplayException or InvalidOperationException)
        {
            _failure = e.Message;
            _publisherErrors = null;
            throw;
        }
        if (_publisherErrors is { } errors)
        {
            _publisherErrors = null;
            throw new AggregateException(errors);
        }
    }

    private void HandleSnapshot(SnapshotLoad snapshot)
    {
        var delta = MetadataSnapshots.ReadDelta(snapshot, out var provenance, MaxBatchBytes);
        var image = delta.Apply(provenance);
        _inTransaction = false;
        _pendingBatches = 0;
        _nextOffset = snapshot.Id.Offset;
        Publish(delta, image, new MetadataUpdate(MetadataUpdateKind.Snapshot, provenance, 0, delta.RecordCount));
    }

    private void HandleBatch(CommittedBatch batch)
    {
        if (batch.BaseOffset != _nextOffset)
            throw new InvalidOperationException($"committed batch {batch.BaseOffset}-{batch.LastOffset} does not follow offset {_nextOffset - 1}");
        if (!batch.IsControl)
        {
            var reader = new RecordBatchReader(batch.Bytes);
            while (reader.MoveNext())
            {
                using var records = reader.Current.OpenRecords(MaxBatchBytes);
                foreach (var raw in records)
                {
                    long offset = raw.Offset;
                    var record = MetadataSnapshots.Decode(raw.Value, offset, $"batch {batch.BaseOffset}-{batch.LastOffset}");
                    switch (record.Message)
                    {
                        case BeginTransactionRecord:
                            if (_inTransaction)
                                throw new MetadataReplayException(offset, "BEGIN_TRANSACTION_RECORD", $"a transaction is already open (since offset {_transactionStart})");
                            if (_delta.RecordCount > 0 || _pendingBatches > 0)
                                Publish(_delta, _delta.Apply(new MetadataProvenance(offset - 1, batch.Epoch, batch.AppendTimestampMs)),
                                    new MetadataUpdate(MetadataUpdateKind.LogDelta, new MetadataProvenance(offset - 1, batch.Epoch, batch.AppendTimestampMs), _pendingBatches + 1, _delta.RecordCount));
                            _inTransaction = true;
                            _transactionStart = offset;
                            break;
                        case EndTransactionRecord:
                            if (!_inTransaction) throw new MetadataReplayException(offset, "END_TRANSACTION_RECORD", "no transaction is open");
                            _inTransaction = false;
                            break;
                        case AbortTransactionRecord:
                            if (!_inTransaction) throw new MetadataReplayException(offset, "ABORT_TRANSACTION_RECORD", "no transaction is open");
                            _inTransaction = false;
                            _delta = new MetadataDelta(_image);
                            break;
                    }
                    _delta.Replay(record, offset);
                }
            }
        }
        _nextOffset = batch.LastOffset + 1;
        _pendingBatches++;
        if (_inTransaction) return;
        var provenance = new MetadataProvenance(batch.LastOffset, batch.Epoch, batch.AppendTimestampMs);
        Publish(_delta, _delta.Apply(provenance), new MetadataUpdate(MetadataUpdateKind.LogDelta, provenance, _pendingBatches, _delta.RecordCount));
    }

    private void Publish(MetadataDelta delta, MetadataImage image, MetadataUpdate update)
    {
        _image = image;
        _delta = new MetadataDelta(image);
        _pendingBatches = 0;
        foreach (var publisher in _publishers)
        {
            try
            {
                publisher.OnMetadataUpdate(delta, image, update);
            }
            catch (Exception e)
            {
                (_publisherErrors ??= []).Add(new InvalidOperationException($"metadata publisher {publisher.Name} failed at offset {image.Provenance.LastContainedOffset}: {e.Message}", e));
            }
        }
    }
}
