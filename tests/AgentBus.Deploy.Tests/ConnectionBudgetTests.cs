using System.Globalization;

namespace AgentBus.Deploy.Tests;

/// <summary>Postgres' max_connections against every Npgsql pool at the most pods an overlay lets run
/// (docs/deploy.md, "Connection budget").</summary>
public class ConnectionBudgetTests
{
    /// <summary>Connections kept free of the services' pools: superuser_reserved_connections (3),
    /// Grafana's Postgres data source (maxOpenConns 5, k8s/monitoring/prometheus-values.yaml), and 12
    /// for people and jobs (psql, pg_dump, a migration run by hand).</summary>
    public const int Headroom = 20;

    private const int NpgsqlDefaultPoolSize = 100;
    private const int PostgresDefaultMaxConnections = 100;

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_pool_at_the_autoscalers_maxima_and_a_rollouts_surge_fits_max_connections(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var postgres = objects.Where(o => o.Kind == "StatefulSet").Select(o => o.As<V1StatefulSet>())
            .Single(s => s.Spec.Template.Spec.Containers.Any(c => Policy.Repository(c.Image) == "postgres"));
        var maxConnections = MaxConnections(postgres.Spec.Template.Spec.Containers.Single());

        var pools = new List<(string Workload, int Pods, int PoolSize)>();
        var problems = new List<string>();
        // The migrations Job's one connection, while it runs, is in the spare ("people and jobs").
        foreach (var (workload, template) in Workloads.All(objects).Where(w => w.Object.Kind != "Job"))
            foreach (var container in template.Spec.Containers)
                foreach (var env in container.Env ?? [])
                    if (env.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal)
                        && env.Value is { } value && Setting(value, "host", "server") == postgres.Metadata.Name)
                        pools.Add((workload.Name, MostPods(objects, workload, problems), PoolSize(value)));

        // Today's services: api, worker and gpu-agent keep a pool each; the web none.
        Assert.Equal(["api", "gpu-agent", "worker"], pools.Select(p => p.Workload).Order(StringComparer.Ordinal));
        var sum = pools.Sum(p => p.Pods * p.PoolSize);
        Assert.True(sum + Headroom <= maxConnections && problems.Count == 0,
            $"{overlay}: {string.Join(" + ", pools.Select(p => $"{p.Workload} {p.Pods} pods x {p.PoolSize}"))} = {sum} connections, "
            + $"plus {Headroom} headroom, against Postgres' max_connections {maxConnections}. {string.Join(" ", problems)}");
    }

    /// <summary>The value of <c>-c max_connections=N</c> among the server's arguments, else Postgres' default.</summary>
    private static int MaxConnections(V1Container postgres)
    {
        var setting = (postgres.Command ?? []).Concat(postgres.Args ?? [])
            .LastOrDefault(a => a.StartsWith("max_connections=", StringComparison.Ordinal));
        return setting is null ? PostgresDefaultMaxConnections : int.Parse(setting.Split('=')[1], CultureInfo.InvariantCulture);
    }

    /// <summary>Npgsql's Maximum Pool Size (also spelt Max Pool Size), else its default of 100.</summary>
    private static int PoolSize(string connectionString) =>
        Setting(connectionString, "maximumpoolsize", "maxpoolsize") is { } size ? int.Parse(size, CultureInfo.InvariantCulture) : NpgsqlDefaultPoolSize;

    /// <summary>The last value of a key in an Npgsql connection string (keys compare without case and spaces).</summary>
    private static string? Setting(string connectionString, params string[] keys) =>
        connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .Where(kv => kv.Length == 2 && keys.Contains(kv[0].Replace(" ", "", StringComparison.Ordinal).Trim().ToLowerInvariant()))
            .Select(kv => kv[1].Trim())
            .LastOrDefault();

    /// <summary>The most pods of a workload at once: a Deployment's HPA maximum (else its replicas)
    /// plus the rollout's surge (default 25%, rounded up), a DaemonSet's budgeted node count, a
    /// StatefulSet's replicas.</summary>
    private static int MostPods(IReadOnlyList<RenderedObject> objects, RenderedObject workload, List<string> problems)
    {
        switch (workload.Model)
        {
            case V1Deployment deployment:
                var hpa = objects.Where(o => o.Kind == "HorizontalPodAutoscaler").Select(o => o.As<V2HorizontalPodAutoscaler>())
                    .SingleOrDefault(h => h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == workload.Name);
                var replicas = hpa?.Spec.MaxReplicas ?? deployment.Spec.Replicas ?? 1;
                if (deployment.Spec.Strategy?.Type == "Recreate") return replicas;
                var surge = deployment.Spec.Strategy?.RollingUpdate?.MaxSurge?.Value ?? "25%";
                return replicas + (surge.EndsWith('%')
                    ? (int)Math.Ceiling(replicas * int.Parse(surge.TrimEnd('%'), CultureInfo.InvariantCulture) / 100.0)
                    : int.Parse(surge, CultureInfo.InvariantCulture));
            case V1DaemonSet daemonSet:
                string? nodes = null;
                if (daemonSet.Metadata.Annotations?.TryGetValue(Policy.BudgetedNodesAnnotation, out nodes) == true)
                    return int.Parse(nodes, CultureInfo.InvariantCulture);
                problems.Add($"DaemonSet {workload.Name} keeps a pool per node but has no {Policy.BudgetedNodesAnnotation} annotation (counted as 1 node).");
                return 1;
            case V1StatefulSet statefulSet:
                return statefulSet.Spec.Replicas ?? 1;
            default:
                throw new InvalidOperationException(workload.Kind);
        }
    }
}
