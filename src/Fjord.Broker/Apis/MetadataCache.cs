using Fjord.Metadata;

namespace Fjord.Broker.Apis;

/// <summary>
/// The broker's view of the cluster metadata: the last image the <see cref="MetadataLoader"/>
/// published, kept in a volatile field. Installed as a publisher on the loader (called on the loader's
/// thread); <see cref="Current"/> is read from any thread. Request handlers read the image once per
/// request and answer from that one immutable object, so an answer never mixes two images.
/// </summary>
public sealed class MetadataCache : IMetadataPublisher
{
    private volatile MetadataImage _image;

    public MetadataCache(MetadataImage? initial = null) => _image = initial ?? MetadataImage.Empty;

    public string Name => "BrokerMetadataCache";

    /// <summary>The latest published image (<see cref="MetadataImage.Empty"/> before the first).</summary>
    public MetadataImage Current => _image;

    public void OnMetadataUpdate(MetadataDelta delta, MetadataImage image, MetadataUpdate update)
    {
        ArgumentNullException.ThrowIfNull(image);
        _image = image;
    }
}
