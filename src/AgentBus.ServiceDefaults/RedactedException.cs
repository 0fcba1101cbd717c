namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Stands in for an exception whose message or inner exceptions held a secret: its Message and
/// ToString() are the original's, masked, so the original type name and stack stay readable.
/// </summary>
public sealed class RedactedException(Exception original, SecretRedactor redactor) : Exception(redactor.Redact(original.Message))
{
    private readonly string _text = redactor.Redact(original.ToString());

    public override string? StackTrace => null; // part of ToString() already

    public override string ToString() => _text;
}
