using System.Security.Cryptography;
using System.Text;

namespace Detector.Server.Security;

/// <summary>
/// The configured API keys, kept only as SHA-256 hashes. A presented key is hashed and compared with every one in
/// constant time: the time a check takes says nothing about how much of a key was right, nor which key matched.
/// </summary>
public sealed class ApiKeySet
{
    private readonly byte[][] _hashes;

    public ApiKeySet(IEnumerable<string> keys) => _hashes = keys.Select(Hash).ToArray();

    /// <summary>No keys configured: authentication is off.</summary>
    public bool IsEmpty => _hashes.Length == 0;

    public bool Accepts(string presented)
    {
        var hash = Hash(presented);
        var match = false;
        foreach (var known in _hashes)
        {
            // No early exit: every key is compared whatever the result so far.
            match |= CryptographicOperations.FixedTimeEquals(known, hash);
        }

        return match;
    }

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
