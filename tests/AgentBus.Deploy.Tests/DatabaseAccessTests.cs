using Npgsql;

namespace AgentBus.Deploy.Tests;

/// <summary>Least privilege in Postgres (issue 20, finding 16) over the rendered overlays: the schema is
/// the migration Job's, the services log in as the app role, and in prod everything goes over TLS.</summary>
public sealed class DatabaseAccessTests
{
    private const string AdminPassword = "postgres-password";
    private const string AppPassword = "postgres-app-password";
    private const string MonitorPassword = "postgres-monitor-password";

    /// <summary>Each Postgres connection string of a workload, with the Secret keys its $(VAR)s read.</summary>
    private static IEnumerable<(string Workload, string Kind, V1PodSpec Pod, V1Container Container, NpgsqlConnectionStringBuilder Connection, HashSet<string> Keys)> PostgresClients(IReadOnlyList<RenderedObject> objects) =>
        from w in Workloads.All(objects)
        from c in w.Template.Spec.Containers
        from e in c.Env ?? []
        where e.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal) && e.Value?.Contains("Host=postgres;", StringComparison.Ordinal) == true
        let keys = Workloads.EnvReference().Matches(e.Value).Select(m => c.Env!.Single(v => v.Name == m.Groups[1].Value).ValueFrom?.SecretKeyRef?.Key ?? "").ToHashSet()
        select (w.Object.Name, w.Object.Kind, w.Template.Spec, c, new NpgsqlConnectionStringBuilder(e.Value), keys);

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void A_Job_migrates_as_the_administrator_and_the_services_log_in_as_the_app_role(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var job = Assert.Single(objects, o => o is { Kind: "Job", Name: "migrations" }).As<V1Job>();
        Assert.Equal("OnFailure", job.Spec.Template.Spec.RestartPolicy);
        Assert.True(job.Spec.BackoffLimit >= 1 && job.Spec.TtlSecondsAfterFinished > 0);

        var clients = PostgresClients(objects).ToList();
        var admin = Assert.Single(clients, c => c.Connection.Username == "postgres");
        Assert.Equal("migrations", admin.Workload);
        Assert.Equal([AdminPassword], admin.Keys);
        // The app role's connection string reaches the Job too: it creates that role with its password;
        // so does the monitoring role's (postgres_exporter's login), and no service holds that one.
        var monitor = clients.Where(c => c.Connection.Username == "agentbus_monitor").ToList();
        Assert.NotEmpty(monitor);
        Assert.All(monitor, c =>
        {
            Assert.Equal("migrations", c.Workload);
            Assert.Equal([MonitorPassword], c.Keys);
        });
        var services = clients.Where(c => c.Workload != "migrations").ToList();
        Assert.Equal(["api", "gpu-agent", "worker"], services.Select(c => c.Workload).Order(StringComparer.Ordinal));
        Assert.All(clients.Where(c => c.Connection.Username is not ("postgres" or "agentbus_monitor")), c =>
        {
            Assert.Equal("agentbus_app", c.Connection.Username);
            Assert.Equal([AppPassword], c.Keys);
        });
        // No service can read the administrator's password at all.
        Assert.DoesNotContain(Workloads.All(objects).Where(w => w.Object.Kind != "Job" && !w.Object.Name.StartsWith("postgres", StringComparison.Ordinal))
            .SelectMany(w => w.Template.Spec.Containers).SelectMany(c => c.Env ?? []), e => e.ValueFrom?.SecretKeyRef?.Key == AdminPassword);
    }

    [Fact]
    public void In_prod_Postgres_serves_TLS_only_and_every_client_verifies_it()
    {
        var objects = Repo.Objects("prod");
        var postgres = Workloads.Of(objects, "postgres").Spec;
        var server = postgres.Containers.Single(c => c.Name == "postgres");
        var settings = server.Args.Where((_, i) => i > 0 && server.Args[i - 1] == "-c").Select(a => a.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
        Assert.Equal("on", settings["ssl"]);
        foreach (var (setting, key) in new[] { ("ssl_cert_file", "tls.crt"), ("ssl_key_file", "tls.key") })
            Assert.Equal(key, SecretFile(postgres, server, settings[setting]));

        // pg_hba.conf: TCP only as hostssl; the local socket is the container's own.
        var hba = MountedConfigMapFile(objects, postgres, server, settings["hba_file"]);
        var rules = hba.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]).ToList();
        Assert.Contains("hostssl", rules);
        Assert.All(rules, r => Assert.Contains(r, new[] { "local", "hostssl" }));

        var clients = PostgresClients(objects).ToList();
        Assert.Equal(["api", "gpu-agent", "migrations", "worker"], clients.Select(c => c.Workload).Distinct().Order(StringComparer.Ordinal));
        foreach (var client in clients)
        {
            Assert.Equal(SslMode.VerifyFull, client.Connection.SslMode);
            Assert.Equal("ca.crt", SecretFile(client.Pod, client.Container, client.Connection.RootCertificate!));
        }
    }

    [Fact]
    public void The_dev_overlay_keeps_postgres_without_tls()
    {
        // Documented: dev clusters run without a certificate (docs/deploy.md); prod is checked above.
        var server = Workloads.Of(Repo.Objects("dev"), "postgres").Spec.Containers.Single(c => c.Name == "postgres");
        Assert.DoesNotContain("ssl=on", server.Args);
    }

    /// <summary>The key of Secret postgres-tls that <paramref name="path"/> is, through the container's mounts.</summary>
    private static string SecretFile(V1PodSpec pod, V1Container container, string path)
    {
        var mount = container.VolumeMounts.Single(m => path.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var secret = pod.Volumes.Single(v => v.Name == mount.Name).Secret;
        Assert.Equal("postgres-tls", secret?.SecretName);
        var file = path[(mount.MountPath.Length + 1)..];
        return secret!.Items?.Single(i => i.Path == file).Key ?? file;
    }

    private static string MountedConfigMapFile(IReadOnlyList<RenderedObject> objects, V1PodSpec pod, V1Container container, string path)
    {
        var mount = container.VolumeMounts.Single(m => path.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var name = pod.Volumes.Single(v => v.Name == mount.Name).ConfigMap.Name;
        return objects.Single(o => o.Kind == "ConfigMap" && o.Name == name).As<V1ConfigMap>().Data[path[(mount.MountPath.Length + 1)..]];
    }
}
