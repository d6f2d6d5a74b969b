namespace Fjord.Storage;

public sealed partial class PartitionLog
{
    /// <summary>
    /// Closes the active segment now (when it holds data) and starts an empty one at the log end
    /// offset, as Kafka's <c>log.roll()</c>: everything appended so far becomes closed, so retention
    /// and the cleaner may take it. Does nothing when the active segment is empty.
    /// </summary>
    internal void Roll()
    {
        lock (_writeLock)
        {
            BeginWrite();
            if (!ActiveSegment.IsEmpty) Roll(_logEndOffset);
        }
    }
}
