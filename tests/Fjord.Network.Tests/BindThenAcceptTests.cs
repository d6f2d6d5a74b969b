using System.Net;
using System.Net.Sockets;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

/// <summary>
/// <see cref="KafkaServer.Bind"/> reserves the port but refuses connections until
/// <see cref="KafkaServer.StartAccepting"/>: how a broker keeps clients away until its metadata has caught up.
/// </summary>
public sealed class BindThenAcceptTests
{
    [Fact]
    public async Task Connections_are_refused_until_accepting_starts_then_served()
    {
        var server = new KafkaServer([new ListenerEndpoint("PLAINTEXT", new IPEndPoint(IPAddress.Loopback, 0))], new ApiHandlerRegistry());
        try
        {
            server.Bind();
            int port = server.BoundEndpoint("PLAINTEXT").Port;
            Assert.NotEqual(0, port);
            Assert.False(server.Accepting);

            using (var early = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                var refused = await Assert.ThrowsAsync<SocketException>(() => early.ConnectAsync(IPAddress.Loopback, port));
                Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
            }

            server.StartAccepting();
            server.StartAccepting(); // once only
            Assert.True(server.Accepting);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await using var client = await KafkaClientConnection.ConnectAsync("127.0.0.1", port, "after-accepting", cts.Token);
            var versions = await client.SendAsync<ApiVersionsResponse>(new ApiVersionsRequest(), 0, cts.Token);
            Assert.Equal(0, versions.ErrorCode);
        }
        finally
        {
            await server.StopAsync();
        }
        // A server stopped before it accepted anything does not start accepting afterwards.
        var stopped = new KafkaServer([new ListenerEndpoint("PLAINTEXT", new IPEndPoint(IPAddress.Loopback, 0))], new ApiHandlerRegistry());
        stopped.Bind();
        await stopped.StopAsync();
        stopped.StartAccepting();
        Assert.False(stopped.Accepting);
    }
}
