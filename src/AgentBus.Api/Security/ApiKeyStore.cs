using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using AgentBus.Data;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace AgentBus.Api.Security;

// Classes with setters rather than records: Dapper maps the snake_case columns onto properties.
/// <summary>
/// API keys in Postgres (api_keys, SHA-256 hashes only) behind a short in-memory cache, so that
/// authenticating a request costs no round trip: a key is looked up at most once per
/// KeyCacheDuration per replica. Revoking evicts the key on this replica at once; other replicas
/// drop it when their cache entry expires. What a stranger can make it do is bounded: text that
/// is not shaped like an issued key is refused without a lookup, unknown keys are remembered in a
/// cache of their own (so a flood of them cannot evict real keys), and each client address may
/// cause only so many lookups per second.
/// </summary>
public sealed class ApiKeyStore(Database db, IOptions<AuthOptions> options, IOptions<RateLimitOptions> limits, ILogger<ApiKeyStore> logger) : IDisposable
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private readonly MemoryCache _unknown = new(new MemoryCacheOptions { SizeLimit = 10_000 });
    private static readonly TimeSpan UnknownFor = TimeSpan.FromSeconds(2);

    // Lookups per client address (AgentBus:RateLimits:KeyLookups), taken before the lookup.
    private readonly PartitionedRateLimiter<string> _lookups = PartitionedRateLimiter.Create<string, string>(address =>
        RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.Value.KeyLookups.Burst,
            TokensPerPeriod = limits.Value.KeyLookups.PermitsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    private readonly ConcurrentDictionary<string, Lazy<Task<StoredKey?>>> _lookupsInFlight = new();

    private static readonly SearchValues<char> Base64UrlAlphabet = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    /// <summary>abk_ and 32 random bytes in unpadded base64url.</summary>
    public const int KeyLength = 4 + 43;

    public const string Prefix = "abk_";
    private const int DisplayPrefixLength = 12;
    private static readonly TimeSpan LastUsedInterval = TimeSpan.FromMinutes(1);

    private readonly byte[]? _adminHash = string.IsNullOrEmpty(options.Value.AdminApiKey) ? null : Hash(options.Value.AdminApiKey);
    private readonly ConcurrentDictionary<Guid, long> _lastUsedWritten = new();

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>Whether the text has the shape of a key this store issues (prefix, length, alphabet).</summary>
    public static bool IsWellFormed(string key) =>
        key.Length == KeyLength && key.StartsWith(Prefix, StringComparison.Ordinal) && !key.AsSpan(Prefix.Length).ContainsAnyExcept(Base64UrlAlphabet);

    /// <summary>
    /// The key's identity; none when it is unknown, revoked or malformed, or when <paramref name="address"/>
    /// has used up its lookups (Limited: a real key that is cached still passes, it costs no lookup).
    /// Concurrent requests with one uncached key share one lookup.
    /// </summary>
    public async ValueTask<KeyCheck> AuthenticateAsync(string key, string address, CancellationToken ct)
    {
        var hash = Hash(key);
        if (_adminHash is not null && CryptographicOperations.FixedTimeEquals(hash, _adminHash))
        {
            return new KeyCheck(new ApiKeyIdentity("key:bootstrap", Roles.Admin, null), false);
        }
        if (!IsWellFormed(key))
        {
            return new KeyCheck(null, false);
        }
        var cacheKey = CacheKey(hash);
        if (!_cache.TryGetValue(cacheKey, out StoredKey? stored))
        {
            if (_unknown.TryGetValue(cacheKey, out _))
            {
                return new KeyCheck(null, false);
            }
            var lookup = _lookupsInFlight.GetOrAdd(cacheKey, _ => new Lazy<Task<StoredKey?>>(() => LookUpAsync(hash, cacheKey, address)));
            stored = await lookup.Value.WaitAsync(ct);
            if (ReferenceEquals(stored, Refused))
            {
                return new KeyCheck(null, true);
            }
            if (stored is null)
            {
                return new KeyCheck(null, false);
            }
        }
        TouchLastUsed(stored!.Id);
        return new KeyCheck(new ApiKeyIdentity($"key:{stored.Id}", stored.Role, stored.Id), false);
    }

    /// <summary>One lookup of an uncached key, if the address may cause one; its result cached (found or not).</summary>
    private async Task<StoredKey?> LookUpAsync(byte[] hash, string cacheKey, string address)
    {
        try
        {
            using var lease = _lookups.AttemptAcquire(address);
            if (!lease.IsAcquired)
            {
                return Refused;
            }
            var row = await db.QuerySingleOrDefaultAsync<StoredKey>("api_key_lookup",
                "SELECT id, role, key_hash FROM api_keys WHERE key_hash = @hash AND revoked_at IS NULL", new { hash }, CancellationToken.None);
            if (row is null || !CryptographicOperations.FixedTimeEquals(row.KeyHash, hash))
            {
                // Remembered briefly and apart: a client retrying a wrong key does not reach Postgres each time.
                _unknown.Set(cacheKey, true, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = UnknownFor, Size = 1 });
                return null;
            }
            _cache.Set(cacheKey, row, new MemoryCacheEntryOptions { AbsoluteExpirationRelativeToNow = options.Value.KeyCacheDuration, Size = 1 });
            return row;
        }
        finally
        {
            _lookupsInFlight.TryRemove(cacheKey, out _);
        }
    }

    /// <summary>What a lookup the address may not cause now answers: not a key, not "unknown".</summary>
    private static readonly StoredKey Refused = new();

    public async Task<(ApiKeyRow Row, string Key)> CreateAsync(string name, string role, string createdBy, CancellationToken ct)
    {
        var key = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var row = await db.QuerySingleOrDefaultAsync<ApiKeyRow>("api_key_create",
            """
            INSERT INTO api_keys (id, name, role, prefix, key_hash, created_by) VALUES (@id, @name, @role, @prefix, @hash, @createdBy)
            RETURNING id, name, role, prefix, created_at, created_by, revoked_at, last_used_at
            """,
            new { id = Guid.CreateVersion7(), name, role, prefix = key[..DisplayPrefixLength], hash = Hash(key), createdBy }, ct);
        return (row!, key);
    }

    public async Task<(IReadOnlyList<ApiKeyRow> Items, long Total)> ListAsync(int limit, int offset, CancellationToken ct)
    {
        var items = await db.QueryAsync<ApiKeyRow>("api_key_list",
            "SELECT id, name, role, prefix, created_at, created_by, revoked_at, last_used_at FROM api_keys ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset",
            new { limit, offset }, ct);
        var total = await db.QuerySingleOrDefaultAsync<long>("api_key_count", "SELECT count(*) FROM api_keys", null, ct);
        return (items, total);
    }

    /// <summary>Revokes the key (idempotent); false when there is no such key.</summary>
    public async Task<bool> RevokeAsync(Guid id, CancellationToken ct)
    {
        var hash = await db.QuerySingleOrDefaultAsync<byte[]>("api_key_revoke",
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = @id RETURNING key_hash", new { id }, ct);
        if (hash is null)
        {
            return false;
        }
        _cache.Remove(CacheKey(hash));
        return true;
    }

    /// <summary>Records use at most once a minute per key and replica, off the request path.</summary>
    private void TouchLastUsed(Guid id)
    {
        var now = Environment.TickCount64;
        // Half of MinValue: "never", yet now - last cannot overflow.
        var last = _lastUsedWritten.GetOrAdd(id, long.MinValue / 2);
        if (now - last < LastUsedInterval.TotalMilliseconds || !_lastUsedWritten.TryUpdate(id, now, last))
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await db.ExecuteAsync("api_key_touch", "UPDATE api_keys SET last_used_at = now() WHERE id = @id", new { id }, CancellationToken.None);
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not record the use of API key {KeyId}", id);
            }
        });
    }

    public void Dispose()
    {
        _cache.Dispose();
        _unknown.Dispose();
        _lookups.Dispose();
    }

    private static string CacheKey(byte[] hash) => "api-key:" + Convert.ToHexString(hash);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>What authenticating a key found: its identity, or none; Limited when its address may not cause a lookup now.</summary>
    public readonly record struct KeyCheck(ApiKeyIdentity? Identity, bool Limited);

    private sealed class StoredKey
    {
        public Guid Id { get; init; }
        public string Role { get; init; } = "";
        public byte[] KeyHash { get; init; } = [];
    }
}
