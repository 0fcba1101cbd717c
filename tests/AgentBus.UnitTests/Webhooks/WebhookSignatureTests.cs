using System.Text;
using AgentBus.Webhooks;

namespace AgentBus.UnitTests.Webhooks;

public sealed class WebhookSignatureTests
{
    [Fact]
    public void Signs_the_standard_webhooks_example_as_the_spec_does()
    {
        // The example the Standard Webhooks specification publishes (secret, id, timestamp, body, signature).
        var key = WebhookSignature.KeyOf("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!;
        var signature = WebhookSignature.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, Encoding.UTF8.GetBytes("""{"test": 2432232314}"""));
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", signature);
    }

    [Fact]
    public void Any_change_to_id_timestamp_or_body_changes_the_signature()
    {
        var key = WebhookSignature.KeyOf(WebhookSignature.NewSecret())!;
        var body = Encoding.UTF8.GetBytes("""{"type":"job_completed"}""");
        var signature = WebhookSignature.Sign(key, "a", 100, body);
        Assert.NotEqual(signature, WebhookSignature.Sign(key, "b", 100, body));
        Assert.NotEqual(signature, WebhookSignature.Sign(key, "a", 101, body));
        Assert.NotEqual(signature, WebhookSignature.Sign(key, "a", 100, Encoding.UTF8.GetBytes("""{"type":"job_failed"}""")));
        Assert.NotEqual(signature, WebhookSignature.Sign(WebhookSignature.KeyOf(WebhookSignature.NewSecret())!, "a", 100, body));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]        // no prefix
    [InlineData("whsec_not base64!")]
    [InlineData("whsec_c2hvcnQ=")]                           // 5 bytes: too weak
    public void Refuses_secrets_that_are_not_whsec_and_16_to_64_bytes(string? secret) => Assert.Null(WebhookSignature.KeyOf(secret));

    [Fact]
    public void New_secrets_are_random_32_byte_keys()
    {
        var (a, b) = (WebhookSignature.NewSecret(), WebhookSignature.NewSecret());
        Assert.NotEqual(a, b);
        Assert.Equal(32, WebhookSignature.KeyOf(a)!.Length);
    }
}
