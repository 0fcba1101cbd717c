using YamlDotNet.RepresentationModel;

namespace AgentBus.Deploy.Tests;

/// <summary>Traces and logs in the cluster (issue 21): every service's OTLP exporter points at the
/// OpenTelemetry Collector the overlays deploy, the policies let them reach it, and its configuration
/// (k8s/monitoring/otel-collector-config.yaml) receives where the Service listens and forwards traces
/// and logs on.</summary>
public sealed class TelemetryCollectorTests
{
    private const string Collector = "otel-collector";

    private static string ConfigFile => Path.Combine(Repo.K8s, "monitoring", "otel-collector-config.yaml");

    private static YamlMappingNode Config()
    {
        var yaml = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(ConfigFile));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlNode At(YamlNode node, params string[] path) =>
        path.Aggregate(node, (n, key) => ((YamlMappingNode)n).Children[new YamlScalarNode(key)]);

    private static IEnumerable<string> List(YamlNode node) => ((YamlSequenceNode)node).Children.Select(c => ((YamlScalarNode)c).Value!);

    private static int PortOf(string endpoint) => int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..].TrimEnd('/'), System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_service_sends_its_traces_and_logs_to_the_collector_s_otlp_port(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var otlpPort = Workloads.ServicePort(objects, Collector, "otlp");
        foreach (var service in Workloads.Projects(Repo.Manifest))
        {
            var settings = Workloads.Settings(objects, Assert.Single(Workloads.Of(objects, service).Spec.Containers));
            Assert.Equal($"http://{Collector}:{otlpPort}", settings["OTEL_EXPORTER_OTLP_ENDPOINT"]);
            Assert.Equal("grpc", settings["OTEL_EXPORTER_OTLP_PROTOCOL"]);
        }
        // What the collector listens on is what the Service sends there.
        Assert.Equal(otlpPort, PortOf(((YamlScalarNode)At(Config(), "receivers", "otlp", "protocols", "grpc", "endpoint")).Value!));
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_collector_runs_hardened_with_the_repository_s_configuration_and_is_probed_on_its_metrics_port(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var pod = Workloads.Of(objects, Collector).Spec;
        var container = Assert.Single(pod.Containers);
        Assert.StartsWith("docker.io/otel/opentelemetry-collector-contrib:0.", container.Image, StringComparison.Ordinal);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);

        // --config names the file of the mounted ConfigMap, whose content is the repository's file.
        var path = Assert.Single(container.Args, a => a.StartsWith("--config=", StringComparison.Ordinal))["--config=".Length..];
        var mount = Assert.Single(container.VolumeMounts, m => path.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        Assert.True(mount.ReadOnlyProperty);
        var configMap = pod.Volumes.Single(v => v.Name == mount.Name).ConfigMap.Name;
        var data = objects.Single(o => o.Kind == "ConfigMap" && o.Name == configMap).As<V1ConfigMap>().Data;
        Assert.EndsWith(File.ReadAllText(ConfigFile), data[Path.GetFileName(path)], StringComparison.Ordinal);

        // The probes read /metrics on the port where the configuration serves the collector's own metrics.
        Assert.Equal("/metrics", container.ReadinessProbe.HttpGet.Path);
        var metricsPort = container.Ports.Single(p => p.Name == (string)container.ReadinessProbe.HttpGet.Port).ContainerPort;
        var readers = (YamlSequenceNode)At(Config(), "service", "telemetry", "metrics", "readers");
        Assert.Equal(metricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ((YamlScalarNode)At(readers.Children[0], "pull", "exporter", "prometheus", "port")).Value);
        // Not removed with the in-cluster data stores: it reads none.
        var managed = File.ReadAllText(Path.Combine(Repo.K8s, "components", "managed-data", "kustomization.yaml"));
        Assert.DoesNotContain(Collector, managed, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_services_reach_the_collector_and_nothing_else_does_but_Prometheus(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var collector = new NetworkPolicies.Pod(Policy.Namespace, Workloads.Of(objects, Collector).Metadata.Labels);
        var otlpPort = Workloads.ServicePort(objects, Collector, "otlp");
        foreach (var service in Workloads.Projects(Repo.Manifest))
        {
            var pod = new NetworkPolicies.Pod(Policy.Namespace, Workloads.Of(objects, service).Metadata.Labels);
            Assert.True(NetworkPolicies.Allow(objects, pod, collector, otlpPort), $"{overlay}: {service} cannot send to the collector");
        }
        var redis = new NetworkPolicies.Pod(Policy.Namespace, Workloads.Of(objects, "redis").Metadata.Labels);
        Assert.False(NetworkPolicies.Allow(objects, redis, collector, otlpPort), $"{overlay}: redis reaches the collector");
        var prometheus = new NetworkPolicies.Pod(Policy.Peers.MonitoringNamespace, new Dictionary<string, string>(Policy.Peers.PrometheusPods));
        Assert.True(NetworkPolicies.Allow(objects, prometheus, collector, Workloads.ServicePort(objects, Collector, "http")));
    }

    [Fact]
    public void The_configuration_forwards_traces_to_tempo_and_logs_to_loki_and_drops_otlp_metrics()
    {
        var config = Config();
        var pipelines = At(config, "service", "pipelines");
        var exporters = (YamlMappingNode)At(config, "exporters");
        string Endpoint(string exporter) => ((YamlScalarNode)At(exporters, exporter, "endpoint")).Value!;

        var traces = List(At(pipelines, "traces", "exporters")).ToList();
        Assert.Equal(["otlp"], List(At(pipelines, "traces", "receivers")));
        Assert.Contains(traces, e => e.StartsWith("otlp/", StringComparison.Ordinal) && Endpoint(e).StartsWith("tempo.", StringComparison.Ordinal));
        var logs = List(At(pipelines, "logs", "exporters")).ToList();
        Assert.Equal(["otlp"], List(At(pipelines, "logs", "receivers")));
        Assert.Contains(logs, e => e.StartsWith("otlphttp/", StringComparison.Ordinal) && Endpoint(e).Contains("loki", StringComparison.Ordinal));
        // The services export metrics over OTLP too; Prometheus scrapes them, so the collector drops them.
        Assert.Equal(["nop"], List(At(pipelines, "metrics", "exporters")));
        // Every pipeline's exporters and processors are defined; memory_limiter comes first where used.
        var processors = (YamlMappingNode)At(config, "processors");
        foreach (var pipeline in ((YamlMappingNode)pipelines).Children.Values)
        {
            Assert.All(List(At(pipeline, "exporters")), e => Assert.True(exporters.Children.ContainsKey(new YamlScalarNode(e)), e));
            var used = List(At(pipeline, "processors")).ToList();
            Assert.All(used, p => Assert.True(processors.Children.ContainsKey(new YamlScalarNode(p)), p));
            Assert.True(used.Count == 0 || used[0] == "memory_limiter", string.Join(", ", used));
        }
    }
}
