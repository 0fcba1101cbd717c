using System.Diagnostics;

namespace AgentBus.Deploy.Tests;

/// <summary>How secrets reach the pods: k8s/secrets (never committed) or managed-service Secrets.</summary>
public class SecretsTests
{
    [Fact]
    public void Dev_secrets_cover_every_secret_key_the_overlays_reference()
    {
        var dir = Repo.TempDir();
        try
        {
            File.Copy(Path.Combine(Repo.K8s, "secrets", "kustomization.yaml"), Path.Combine(dir, "kustomization.yaml"));
            DevSecrets.Write(Repo.Manifest, dir).ToList();
            var first = File.ReadAllText(Path.Combine(dir, "postgres-password"));
            Assert.Matches("^[A-Za-z0-9]{32,}$", first);
            DevSecrets.Write(Repo.Manifest, dir).ToList();
            Assert.Equal(first, File.ReadAllText(Path.Combine(dir, "postgres-password"))); // kept, never rotated

            var secret = RenderedObject.Split(Repo.Kustomize(dir)).Single().As<V1Secret>();
            Assert.Equal(Policy.SecretName, secret.Metadata.Name);
            Assert.Equal(Policy.Namespace, secret.Metadata.NamespaceProperty);
            foreach (var overlay in Repo.Overlays.Select(o => (string)o.Data))
                foreach (var (workload, template) in Workloads.All(Repo.Objects(overlay)))
                    foreach (var env in template.Spec.Containers.SelectMany(c => c.Env ?? []))
                        if (env.ValueFrom?.SecretKeyRef is { Name: Policy.SecretName } reference)
                            Assert.True(secret.Data.ContainsKey(reference.Key), $"{overlay} {workload.Name}: key {reference.Key} missing");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Secret_values_in_k8s_secrets_are_ignored_by_git()
    {
        foreach (var (path, ignored) in new[] { ("k8s/secrets/postgres-password", true), ("k8s/secrets/kustomization.yaml", false), ("k8s/secrets/README.md", false) })
        {
            using var git = Process.Start(new ProcessStartInfo("git", ["-C", Repository.Root, "check-ignore", "-q", "--no-index", path]))!;
            git.WaitForExit();
            Assert.True((git.ExitCode == 0) == ignored, $"{path} should {(ignored ? "" : "not ")}be git-ignored");
        }
    }

    [Fact]
    public void The_managed_data_component_swaps_postgres_and_redis_for_a_secret()
    {
        // Flip the one setting in a copy of k8s/: the managed-data component instead of postgres-tls.
        var dir = Repo.TempDir();
        try
        {
            Repo.Copy(Repo.K8s, dir);
            var overlay = Path.Combine(dir, "overlays", "prod", "kustomization.yaml");
            var text = File.ReadAllText(overlay);
            Assert.Contains("components:\n  - ../../components/postgres-tls\n", text, StringComparison.Ordinal);
            File.WriteAllText(overlay, text.Replace("components:\n  - ../../components/postgres-tls\n",
                "components:\n  - ../../components/managed-data\n", StringComparison.Ordinal));
            var objects = RenderedObject.Split(Repo.Kustomize(Path.Combine(dir, "overlays", "prod")));

            // The data stores and their exporters (which watched the in-cluster servers) are gone; the
            // OpenTelemetry Collector, which reads no data store, stays.
            var dataStores = Repo.Manifest.Resources.Where(r => AspireManifest.TypeOf(r.Resource) == "container.v0"
                && Policy.ForExporter((string)r.Resource["image"]!) is not { ReadsDataStore: false }).Select(r => r.Name).ToList();
            Assert.Contains("postgres-exporter", dataStores);
            Assert.Contains(objects, o => o is { Kind: "Deployment", Name: "otel-collector" });
            Assert.DoesNotContain(objects, o => o.Kind == "StatefulSet");
            Assert.DoesNotContain(objects, o => dataStores.Contains(o.Name) || dataStores.Any(d => o.Name.StartsWith(d + "-env", StringComparison.Ordinal)));
            foreach (var (workload, template) in Workloads.All(objects))
                foreach (var env in template.Spec.Containers.SelectMany(c => c.Env ?? []))
                {
                    if (env.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal))
                        Assert.Equal(Policy.ManagedDataSecretName, env.ValueFrom?.SecretKeyRef?.Name);
                    // No password of the removed stores (other secrets, such as model API keys, stay).
                    Assert.False(env.ValueFrom?.SecretKeyRef?.Name == Policy.SecretName && dataStores.Any(d => env.ValueFrom.SecretKeyRef.Key.StartsWith(d + "-", StringComparison.Ordinal)),
                        $"{workload} {env.Name} still reads {env.ValueFrom?.SecretKeyRef?.Key}");
                    Assert.DoesNotContain(dataStores, d => (env.Value ?? "").Contains(d + ":", StringComparison.Ordinal) || (env.Value ?? "").Contains("Host=" + d, StringComparison.Ordinal));
                }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("ConnectionStrings__agentbus", "Host=db;Username=postgres;Password=hunter22;Database=x")]
    [InlineData("REDIS", "redis:6379,password=abcdef123")]
    [InlineData("DATABASE_URL", "postgres://app:s3cr3t@db:5432/app")]
    [InlineData("AgentBus__Llm__ApiKey", "abc123")]
    [InlineData("CONFIG", "{\"token\": \"abcdefgh\"}")]
    [InlineData("OPENAI", "sk-proj-abcdefghijklmnopqrstuv")]
    [InlineData("settings.yaml", "auth:\n  api_key: 0123456789abcdef")]
    public void The_secret_detector_flags_credentials(string key, string value) =>
        Assert.NotNull(SecretDetector.Check(key, value));

    [Theory]
    [InlineData("HTTP_PORTS", "8080")]
    [InlineData("POSTGRES_HOST_AUTH_METHOD", "scram-sha-256")]
    [InlineData("POSTGRES_INITDB_ARGS", "--auth-host=scram-sha-256 --auth-local=scram-sha-256")]
    [InlineData("ConnectionStrings__agentbus", "Host=postgres;Port=5432;Username=postgres;Password=$(POSTGRES_PASSWORD);Database=agentbus")]
    [InlineData("dashboard.json", "{\"expr\": \"sum(rate(agent_bus_agent_llm_tokens_total{type=\\\"input\\\"}[5m]))\", \"secret\": false}")]
    [InlineData("SECRET_FILE_PATH", "")]
    public void The_secret_detector_passes_plain_settings(string key, string value) =>
        Assert.Null(SecretDetector.Check(key, value));
}
