namespace AgentBus.Deploy.Tests;

/// <summary>A custom resource's envelope, strict at the top level.</summary>
public sealed class CustomResource : KubernetesObject, IMetadata<V1ObjectMeta>
{
    [System.Text.Json.Serialization.JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [System.Text.Json.Serialization.JsonPropertyName("spec")]
    public object? Spec { get; set; }
}
