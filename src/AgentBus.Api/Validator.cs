namespace AgentBus.Api;

/// <summary>Collects per-field validation errors.</summary>
public sealed class Validator
{
    public Dictionary<string, string[]> Errors { get; } = [];
    public bool Ok => Errors.Count == 0;

    public Validator Require(bool condition, string field, string message)
    {
        if (!condition)
        {
            Errors[field] = [.. Errors.GetValueOrDefault(field, []), message];
        }
        return this;
    }

    public Validator Text(string? value, string field, int max, bool required = true)
    {
        if (value is null || value.Trim().Length == 0)
        {
            return Require(!required, field, "is required and must not be blank");
        }
        Require(value.Length <= max, field, $"must be at most {max} characters (got {value.Length})");
        return Require(!value.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')), field, "must not contain control characters");
    }
}
