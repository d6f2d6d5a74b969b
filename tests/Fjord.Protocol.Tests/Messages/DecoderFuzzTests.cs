using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Protocol.Tests.Messages;

/// <summary>
/// Mutation fuzzing of every request decoder: valid frames (a random request of each API at each
/// version behind its header) are mutated — bit flips, random bytes, truncation, insertion,
/// length fields set to extreme values — and decoded. The only exception allowed out of a decoder
/// is <see cref="ProtocolDecodeException"/>; any other, or a decode that takes too long, fails the
/// test with the seed that replays it.
/// </summary>
public sealed class DecoderFuzzTests
{
    private const int TotalMutations = 120_000;
    private const int Seed = 20261121;

    [Fact]
    public void Mutated_request_frames_only_ever_raise_the_typed_exception()
    {
        var frames = new List<(string Name, byte[] Frame)>();
        var factory = new SampleFactory(Seed);
        foreach (var api in KafkaApis.All)
        {
            foreach (var version in SampleFactory.Versions(api.Request.Schema))
            {
                for (int i = 0; i < 2; i++)
                {
                    var body = factory.Create(api.Request, version, withUnknownTags: i == 1);
                    var header = new RequestHeader { RequestApiKey = api.ApiKey, RequestApiVersion = version, CorrelationId = i, ClientId = "fuzz" };
                    frames.Add(($"{api.Name} v{version}", Frames.EncodeRequest(header, body)[Frames.SizePrefixBytes..]));
                }
            }
        }

        var random = new Random(Seed);
        int decodedOk = 0, rejected = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int n = 0; n < TotalMutations; n++)
        {
            var (name, frame) = frames[random.Next(frames.Count)];
            int mutationSeed = random.Next();
            var mutated = Mutate(frame, new Random(mutationSeed));
            long started = watch.ElapsedMilliseconds;
            try
            {
                Frames.DecodeRequest(mutated);
                decodedOk++;
            }
            catch (ProtocolDecodeException)
            {
                rejected++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"{name}, mutation seed {mutationSeed}: {ex.GetType().Name}: {ex.Message}\nframe: {Convert.ToHexString(mutated)}");
            }
            long took = watch.ElapsedMilliseconds - started;
            Assert.True(took < 10_000, $"{name}, mutation seed {mutationSeed}: decoding took {took} ms");
        }
        Assert.Equal(TotalMutations, decodedOk + rejected);
        // Both outcomes must occur, or the mutations are not exercising the decoders.
        Assert.True(rejected > TotalMutations / 10, $"only {rejected} rejections");
        Assert.True(decodedOk > 100, $"only {decodedOk} mutated frames still decoded");
    }

    internal static byte[] Mutate(byte[] frame, Random random)
    {
        var bytes = new List<byte>(frame);
        int edits = 1 + random.Next(4);
        for (int e = 0; e < edits; e++)
        {
            // Keep the API key (the first 2 bytes) most of the time, so the body decoders get exercised.
            int low = random.Next(8) == 0 ? 0 : Math.Min(2, bytes.Count);
            if (bytes.Count <= low) { bytes.Add((byte)random.Next(256)); continue; }
            int at = random.Next(low, bytes.Count);
            switch (random.Next(7))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes[at] = (byte)random.Next(256); break;
                case 2: bytes.RemoveRange(at, bytes.Count - at); break;
                case 3: bytes.Insert(at, (byte)random.Next(256)); break;
                case 4: bytes.RemoveAt(at); break;
                case 5: // an extreme length or count: 0xFF.. or 0x7F..
                    for (int k = 0; k < 4 && at + k < bytes.Count; k++) bytes[at + k] = k == 0 && random.Next(2) == 0 ? (byte)0x7F : (byte)0xFF;
                    break;
                default: // a run of varint continuation bytes
                    for (int k = 0; k < 6 && at + k < bytes.Count; k++) bytes[at + k] = 0x80;
                    break;
            }
        }
        return bytes.ToArray();
    }
}
