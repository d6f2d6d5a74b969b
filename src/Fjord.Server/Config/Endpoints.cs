using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fjord.Server;

/// <summary>The roles of <c>process.roles</c>.</summary>
[Flags]
public enum ProcessRoles
{
    None = 0,
    Broker = 1,
    Controller = 2,
    Combined = Broker | Controller,
}

/// <summary>Kafka's security protocols (the values of <c>listener.security.protocol.map</c>), with Kafka's ids.</summary>
public enum SecurityProtocol : short
{
    Plaintext = 0,
    Ssl = 1,
    SaslPlaintext = 2,
    SaslSsl = 3,
}

public static class SecurityProtocols
{
    public static string Name(this SecurityProtocol protocol) => protocol switch
    {
        SecurityProtocol.Plaintext => "PLAINTEXT",
        SecurityProtocol.Ssl => "SSL",
        SecurityProtocol.SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol.SaslSsl => "SASL_SSL",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol)),
    };

    /// <summary>Parses a protocol name, case-insensitively as Kafka does.</summary>
    public static bool TryParse(string text, out SecurityProtocol protocol)
    {
        switch (text.Trim().ToUpperInvariant())
        {
            case "PLAINTEXT": protocol = SecurityProtocol.Plaintext; return true;
            case "SSL": protocol = SecurityProtocol.Ssl; return true;
            case "SASL_PLAINTEXT": protocol = SecurityProtocol.SaslPlaintext; return true;
            case "SASL_SSL": protocol = SecurityProtocol.SaslSsl; return true;
            default: protocol = default; return false;
        }
    }

    /// <summary>True for a listener name that is itself the name of a TLS or SASL protocol.</summary>
    internal static bool IsSslOrSaslName(string name) => name is "SSL" or "SASL_SSL" or "SASL_PLAINTEXT";
}

/// <summary>A host and port (<c>controller.quorum.bootstrap.servers</c>, voter addresses).
/// <see cref="Host"/> has no brackets; an IPv6 literal gets them back in <see cref="ToString"/>.</summary>
public readonly record struct HostPort(string Host, int Port)
{
    public override string ToString() => (Host.Contains(':') ? $"[{Host}]" : Host) + ":" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses <c>host:port</c> or <c>[ipv6]:port</c>; the host must not be empty.</summary>
    public static bool TryParse(string text, out HostPort hostPort, out string problem)
    {
        hostPort = default;
        text = text.Trim();
        string host, rest;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) { problem = "an IPv6 host opened with '[' is never closed"; return false; }
            host = text[1..close];
            rest = text[(close + 1)..];
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon < 0) { problem = "there is no ':port'"; return false; }
            host = text[..colon];
            rest = text[colon..];
        }
        if (!rest.StartsWith(':')) { problem = "there is no ':port'"; return false; }
        if (host.Length == 0) { problem = "the host is empty"; return false; }
        if (!TryParsePort(rest[1..], out int port)) { problem = $"'{rest[1..]}' is not a port (0-65535)"; return false; }
        hostPort = new HostPort(host, port);
        problem = "";
        return true;
    }

    internal static bool TryParsePort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 0 and <= 65535;
}

/// <summary>One entry of <c>controller.quorum.voters</c>: <c>id@host:port</c>.</summary>
public readonly record struct QuorumVoter(int NodeId, HostPort Address)
{
    public override string ToString() => $"{NodeId.ToString(CultureInfo.InvariantCulture)}@{Address}";
}

/// <summary>
/// One listener of <c>listeners</c> or <c>advertised.listeners</c>: <c>NAME://host:port</c>. The
/// name is upper-cased (Kafka normalises listener names); an empty <see cref="Host"/> means every
/// interface (and, advertised, the machine's own name).
/// </summary>
public sealed record ListenerEndpoint(string Name, SecurityProtocol SecurityProtocol, string Host, int Port)
{
    public override string ToString() => $"{Name}://{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Splits <c>NAME://host:port</c> (host may be empty or a bracketed IPv6 literal).</summary>
    internal static bool TryParse(string text, out string name, out string host, out int port)
    {
        name = host = "";
        port = 0;
        int sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0) return false;
        name = text[..sep].Trim().ToUpperInvariant();
        var rest = text[(sep + 3)..].Trim();
        string portText;
        if (rest.StartsWith('['))
        {
            int close = rest.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= rest.Length || rest[close + 1] != ':') return false;
            host = rest[1..close];
            portText = rest[(close + 2)..];
        }
        else
        {
            int colon = rest.LastIndexOf(':');
            if (colon < 0) return false;
            host = rest[..colon];
            portText = rest[(colon + 1)..];
            if (host.Contains(':')) return false; // an IPv6 literal needs brackets
        }
        if (host.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '%' or '.' or '_' or ':'))) return false;
        return HostPort.TryParsePort(portText, out port);
    }

    internal bool IsIpLiteral(out AddressFamily family)
    {
        family = AddressFamily.Unknown;
        if (!IPAddress.TryParse(Host, out var address)) return false;
        family = address.AddressFamily;
        return true;
    }
}
