using Fjord.Protocol;
using Fjord.Protocol.Framing;

namespace Fjord.Capture;

/// <summary><c>--dump</c>: decodes captured frames with Fjord's codec and prints header and body as JSON.</summary>
public static class Dump
{
    public static int Frames(IReadOnlyList<string> files)
    {
        int failures = 0;
        foreach (var file in files)
        {
            try
            {
                var frame = File.ReadAllBytes(file);
                var request = Fjord.Protocol.Framing.Frames.DecodeRequest(frame);
                var reencoded = Fjord.Protocol.Framing.Frames.EncodeRequest(request.Header, request.Body);
                bool identical = reencoded.AsSpan(Fjord.Protocol.Framing.Frames.SizePrefixBytes).SequenceEqual(frame);
                Console.WriteLine($"{file}: {request.Api.Name} v{request.ApiVersion}, header v{request.HeaderVersion}, {frame.Length} bytes, re-encoding {(identical ? "identical" : "DIFFERS")}");
                Console.WriteLine("  header " + request.Header.ToJson(request.HeaderVersion));
                Console.WriteLine("  body   " + request.Body.ToJson(request.ApiVersion));
                if (!identical) failures++;
            }
            catch (Exception e) when (e is ProtocolDecodeException or ProtocolEncodeException or IOException)
            {
                Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message}");
                failures++;
            }
        }
        return failures == 0 ? 0 : 3;
    }
}
