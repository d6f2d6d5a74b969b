using Fjord.Protocol;

namespace Fjord.Broker;

/// <summary>
/// The broker's line to the active controller (implemented by the composition root over the
/// controller listener). <see cref="SendAsync{TResponse}"/> delivers one request to whichever
/// controller is active, finding it again (and resending) when the one it used answers
/// NOT_CONTROLLER or the connection drops, until <paramref name="timeout"/> runs out; it then
/// throws <see cref="TimeoutException"/>. The response returned is the active controller's answer,
/// whatever error codes it holds (other than NOT_CONTROLLER). Thread-safe; many requests may be in
/// flight at once.
/// </summary>
public interface IControllerChannel
{
    Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage;
}
