namespace AgentBus.Deploy.Tests;

/// <summary>postgres_exporter and redis_exporter in the rendered overlays (issue 21): pinned images
/// run as hardened Deployments, passwords only from the Secret, reachable by Prometheus alone,
/// reaching their servers, and pg_stat_statements loaded by the Postgres they read.</summary>
public sealed class ExporterTests
{
    private static readonly (string Name, string Image, int Port)[] Exporters =
    [
        ("postgres-exporter", "quay.io/prometheuscommunity/postgres-exporter:v0.11.1", 9187),
        ("redis-exporter", "docker.io/oliver006/redis_exporter:v1.45.0", 9121),
    ];

    private static V1Container Container(IReadOnlyList<RenderedObject> objects, string name) =>
        Assert.Single(Workloads.Of(objects, name).Spec.Containers);

    private static NetworkPolicies.Pod PodOf(IReadOnlyList<RenderedObject> objects, string name) =>
        new(Policy.Namespace, Workloads.Of(objects, name).Metadata.Labels);

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_exporters_run_their_pinned_images_as_hardened_deployments_probed_on_metrics(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var (name, image, port) in Exporters)
        {
            var deployment = Assert.Single(objects, o => o.Kind == "Deployment" && o.Name == name).As<V1Deployment>();
            Assert.Equal(1, deployment.Spec.Replicas);
            var pod = deployment.Spec.Template.Spec;
            var container = Assert.Single(pod.Containers);
            Assert.Equal(image, container.Image);
            Assert.Equal(port, container.Ports.Single(p => p.Name == "http").ContainerPort);
            Assert.Equal("/metrics", container.ReadinessProbe.HttpGet.Path);
            Assert.Equal("/metrics", container.LivenessProbe.HttpGet.Path);
            Assert.True(pod.SecurityContext.RunAsNonRoot);
            Assert.True(pod.SecurityContext.RunAsUser > 0);
            Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
            Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
            Assert.Equal(port, Workloads.ServicePort(objects, name));
            // The labels the agent-bus-exporters PodMonitor and scrape job select.
            Assert.Equal(name, deployment.Spec.Template.Metadata.Labels["component"]);
            Assert.Equal(Policy.PartOf, deployment.Spec.Template.Metadata.Labels["app.kubernetes.io/part-of"]);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_exporters_read_their_passwords_from_the_secret_and_nothing_else_does_plainly(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var postgres = Container(objects, "postgres-exporter");
        var dataSource = postgres.Env.Single(e => e.Name == "DATA_SOURCE_NAME").Value;
        Assert.StartsWith("postgresql://agentbus_monitor:$(POSTGRES_MONITOR_PASSWORD)@postgres:5432/agentbus?sslmode=", dataSource, StringComparison.Ordinal);
        Assert.Equal("postgres-monitor-password", postgres.Env.Single(e => e.Name == "POSTGRES_MONITOR_PASSWORD").ValueFrom.SecretKeyRef.Key);
        // The migration Job sets the monitoring role's password from the same key.
        var migrations = Container(objects, "migrations");
        Assert.Contains(migrations.Env, e => e.ValueFrom?.SecretKeyRef?.Key == "postgres-monitor-password");

        var redis = Container(objects, "redis-exporter");
        Assert.Equal("redis-password", redis.Env.Single(e => e.Name == "REDIS_PASSWORD").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("redis://redis:6379", Workloads.Settings(objects, redis)["REDIS_ADDR"]);
        Assert.Equal("agentbus:queue:[cg]pu,agentbus:queue:[cg]pu:dead", Workloads.Settings(objects, redis)["REDIS_EXPORTER_CHECK_STREAMS"]);

        foreach (var container in new[] { postgres, redis })
        {
            Assert.DoesNotContain(Workloads.Settings(objects, container).Keys, k => k.Contains("PASSWORD", StringComparison.Ordinal) || k == "DATA_SOURCE_NAME");
            Assert.Null(container.Args);
            Assert.Null(container.Command);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Only_Prometheus_reaches_the_exporters_and_they_reach_their_servers(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var prometheus = new NetworkPolicies.Pod(Policy.Peers.MonitoringNamespace, new Dictionary<string, string>(Policy.Peers.PrometheusPods));
        var grafana = new NetworkPolicies.Pod(Policy.Peers.MonitoringNamespace, new Dictionary<string, string>(Policy.Peers.GrafanaPods));
        var api = PodOf(objects, "api");
        foreach (var (name, _, port) in Exporters)
        {
            var exporter = PodOf(objects, name);
            Assert.True(NetworkPolicies.Allow(objects, prometheus, exporter, port), $"{overlay}: Prometheus cannot scrape {name}");
            Assert.False(NetworkPolicies.Allow(objects, grafana, exporter, port), $"{overlay}: Grafana reaches {name}");
            Assert.False(NetworkPolicies.Allow(objects, api, exporter, port), $"{overlay}: the api reaches {name}");
        }
        var postgresPort = Workloads.ServicePort(objects, "postgres");
        var redisPort = Workloads.ServicePort(objects, "redis");
        Assert.True(NetworkPolicies.Allow(objects, PodOf(objects, "postgres-exporter"), PodOf(objects, "postgres"), postgresPort));
        Assert.True(NetworkPolicies.Allow(objects, PodOf(objects, "redis-exporter"), PodOf(objects, "redis"), redisPort));
        Assert.False(NetworkPolicies.Allow(objects, PodOf(objects, "redis-exporter"), PodOf(objects, "postgres"), postgresPort));
        Assert.False(NetworkPolicies.Allow(objects, PodOf(objects, "postgres-exporter"), PodOf(objects, "redis"), redisPort));
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Postgres_exporter_reads_the_repository_s_queries_file_and_postgres_loads_pg_stat_statements(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var pod = Workloads.Of(objects, "postgres-exporter").Spec;
        var container = Assert.Single(pod.Containers);
        var path = Workloads.Settings(objects, container)["PG_EXPORTER_EXTEND_QUERY_PATH"];
        var mount = Assert.Single(container.VolumeMounts, m => path.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        Assert.True(mount.ReadOnlyProperty);
        var configMap = pod.Volumes.Single(v => v.Name == mount.Name).ConfigMap.Name;
        var data = objects.Single(o => o.Kind == "ConfigMap" && o.Name == configMap).As<V1ConfigMap>().Data;
        var source = File.ReadAllText(Path.Combine(Repo.K8s, "monitoring", "postgres-exporter-queries.yaml"));
        Assert.EndsWith(source, data[Path.GetFileName(path)], StringComparison.Ordinal);
        Assert.Contains("pg_stat_statements", source, StringComparison.Ordinal);

        var server = Workloads.Of(objects, "postgres").Spec.Containers.Single(c => c.Name == "postgres");
        var settings = server.Args.Where((_, i) => i > 0 && server.Args[i - 1] == "-c").Select(a => a.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
        Assert.Equal("pg_stat_statements", settings["shared_preload_libraries"]);
        Assert.Equal("off", settings["pg_stat_statements.track_utility"]); // ALTER ROLE ... PASSWORD keeps its literal
        Assert.True(int.Parse(settings["max_connections"], System.Globalization.CultureInfo.InvariantCulture) >= 200);
    }

    [Fact]
    public void In_prod_postgres_exporter_verifies_the_servers_certificate()
    {
        var dev = Container(Repo.Objects("dev"), "postgres-exporter").Env.Single(e => e.Name == "DATA_SOURCE_NAME").Value;
        Assert.EndsWith("?sslmode=disable", dev, StringComparison.Ordinal);

        var objects = Repo.Objects("prod");
        var pod = Workloads.Of(objects, "postgres-exporter").Spec;
        var container = Assert.Single(pod.Containers);
        var env = container.Env.Where(e => e.Name == "DATA_SOURCE_NAME").ToList();
        var dataSource = Assert.Single(env).Value;
        Assert.Contains("sslmode=verify-full&sslrootcert=/etc/agent-bus/postgres-ca/ca.crt", dataSource, StringComparison.Ordinal);
        Assert.DoesNotContain("sslmode=disable", dataSource, StringComparison.Ordinal);
        var mount = container.VolumeMounts.Single(m => m.MountPath == "/etc/agent-bus/postgres-ca");
        Assert.Equal("postgres-tls", pod.Volumes.Single(v => v.Name == mount.Name).Secret.SecretName);
        // $(VAR) sees only variables defined before it: the password's comes first.
        Assert.True(container.Env.ToList().FindIndex(e => e.Name == "POSTGRES_MONITOR_PASSWORD") < container.Env.ToList().FindIndex(e => e.Name == "DATA_SOURCE_NAME"));
    }
}
