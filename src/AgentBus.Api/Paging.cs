namespace AgentBus.Api;

/// <summary>
/// limit of every list endpoint, and offset where a list still pages by offset (/api/keys). The
/// lists of jobs and projects page by keyset instead (before=next_before), with offset 0 only.
/// </summary>
public static class Paging
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 200;
    public const int MaxOffset = 1_000_000;

    public static Validator Check(int limit, int offset) => new Validator()
        .Require(limit is >= 1 and <= MaxLimit, "limit", $"must be between 1 and {MaxLimit}")
        .Require(offset is >= 0 and <= MaxOffset, "offset", $"must be between 0 and {MaxOffset}");
}
