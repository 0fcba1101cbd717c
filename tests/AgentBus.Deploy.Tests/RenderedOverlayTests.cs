namespace AgentBus.Deploy.Tests;

/// <summary>What a cluster admin checks in the rendered overlays, offline.</summary>
public class RenderedOverlayTests
{
    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Overlay_renders_a_workload_and_service_for_every_resource_of_the_model(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var (name, resource) in Workloads.FromManifest(Repo.Manifest))
        {
            var expected = AspireManifest.TypeOf(resource) == "container.v0"
                    ? Policy.ForExporter((string)resource["image"]!) is null ? "StatefulSet" : "Deployment"
                : Policy.ForService(name).RunsToCompletion ? "Job"
                : Policy.ForService(name).DaemonSetOnGpuNodes ? "DaemonSet" : "Deployment";
            Assert.Contains(objects, o => o.Kind == expected && o.Name == name);
            // A Job serves nothing.
            Assert.Equal(expected != "Job", objects.Any(o => o.Kind == "Service" && o.Name == name));
        }
        Assert.Contains(objects, o => o.Kind == "Namespace" && o.Name == Policy.Namespace);
        Assert.Contains(objects, o => o is { Kind: "Ingress", Name: "api" });
        Assert.Contains(objects, o => o is { Kind: "Ingress", Name: "web" });
        foreach (var name in new[] { "api", "worker", "web" })
        {
            Assert.Contains(objects, o => o.Kind == "HorizontalPodAutoscaler" && o.Name == name);
            Assert.Contains(objects, o => o.Kind == "PodDisruptionBudget" && o.Name == name);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_rendered_object_deserializes_strictly_into_its_typed_model(string overlay)
    {
        // Repo.Objects parses every document strictly; count them against the raw documents so
        // none can be skipped.
        var documents = Repo.Render(overlay).Split("\n---\n").Count(d => !string.IsNullOrWhiteSpace(d));
        var objects = Repo.Objects(overlay);
        Assert.Equal(documents, objects.Count);
        Assert.All(objects, o => Assert.True(o.Model is not CustomResource
            || RenderedObject.CustomResourceGroups.Contains(o.ApiVersion.Split('/')[0]), $"{o.Kind} {o.Name}"));
    }

    [Fact]
    public void Strict_deserialization_rejects_a_misspelt_field()
    {
        var deployment = Repo.Objects("prod").Single(o => o is { Kind: "Deployment", Name: "api" }).Yaml;
        Assert.Contains("readinessProbe:", deployment, StringComparison.Ordinal);

        var nested = deployment.Replace("readinessProbe:", "readynessProbe:", StringComparison.Ordinal);
        var nestedError = Assert.ThrowsAny<Exception>(() => RenderedObject.Parse(nested));
        Assert.Contains("readynessProbe", nestedError.Message, StringComparison.Ordinal);

        var topLevel = deployment.Replace("\nspec:\n", "\nspec:\n  replicaz: 2\n", StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => RenderedObject.Parse(topLevel));

        // The library's default is lenient, which is why the strict mode is needed at all.
        var lenient = KubernetesYaml.Deserialize<V1Deployment>(nested);
        Assert.Null(lenient.Spec.Template.Spec.Containers[0].ReadinessProbe);
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_manifest_env_var_of_a_workload_has_a_value_or_a_reference(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var (name, resource) in Workloads.FromManifest(Repo.Manifest))
        {
            var container = Workloads.Of(objects, name).Spec.Containers.Single(c => c.Name == name);
            var fromConfigMaps = Workloads.Settings(objects, container);
            foreach (var (variable, template) in resource["env"]?.AsObject() ?? [])
            {
                var env = container.Env?.SingleOrDefault(e => e.Name == variable);
                // Dropped with the binding it names (an https endpoint the cluster does not serve).
                if (Repo.Manifest.IsUnservedEndpoint(variable, (string?)template ?? ""))
                    Assert.True(env is null && !fromConfigMaps.ContainsKey(variable), $"{overlay}: {name} still sets {variable}");
                else
                    Assert.True(env is { Value.Length: > 0 } or { ValueFrom: not null } || fromConfigMaps.ContainsKey(variable),
                        $"{overlay}: {name} has no value for {variable}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Env_interpolations_and_secret_references_resolve(string overlay)
    {
        foreach (var (workload, template) in Workloads.All(Repo.Objects(overlay)))
        {
            foreach (var container in template.Spec.Containers)
            {
                var defined = new HashSet<string>();
                foreach (var env in container.Env ?? [])
                {
                    // $(VAR) only expands to a variable defined earlier in the list.
                    foreach (var match in Workloads.EnvReference().Matches(env.Value ?? "").Cast<System.Text.RegularExpressions.Match>())
                        Assert.True(defined.Contains(match.Groups[1].Value), $"{workload.Name}: {env.Name} uses $({match.Groups[1].Value}) before it is defined");
                    if (env.ValueFrom?.SecretKeyRef is { } secret)
                        Assert.Contains(secret.Name, new[] { Policy.SecretName, Policy.ManagedDataSecretName });
                    defined.Add(env.Name);
                }
                foreach (var arg in container.Args ?? [])
                    foreach (var match in Workloads.EnvReference().Matches(arg).Cast<System.Text.RegularExpressions.Match>())
                        Assert.True(defined.Contains(match.Groups[1].Value), $"{workload.Name}: argument uses undefined $({match.Groups[1].Value})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void No_ConfigMap_value_looks_like_a_secret(string overlay)
    {
        var configMaps = Repo.Objects(overlay).Where(o => o.Kind == "ConfigMap").ToList();
        Assert.NotEmpty(configMaps);
        foreach (var map in configMaps)
            foreach (var (key, value) in map.As<V1ConfigMap>().Data ?? new Dictionary<string, string>())
                Assert.True(SecretDetector.Check(key, value) is null,
                    $"ConfigMap {map.Name} key {key}: {SecretDetector.Check(key, value)}");
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Every_workload_has_probes_a_hardened_security_context_and_resources(string overlay)
    {
        var workloads = Workloads.All(Repo.Objects(overlay)).ToList();
        Assert.NotEmpty(workloads);
        foreach (var (workload, template) in workloads)
        {
            var pod = template.Spec;
            var where = $"{overlay} {workload.Kind} {workload.Name}";
            Assert.True(pod.SecurityContext?.RunAsNonRoot == true, $"{where}: pod runAsNonRoot");
            Assert.Equal("RuntimeDefault", pod.SecurityContext?.SeccompProfile?.Type);
            Assert.False(pod.HostNetwork == true || pod.HostPID == true || pod.HostIPC == true, where);
            Assert.DoesNotContain(pod.Volumes ?? [], v => v.HostPath is not null);
            foreach (var container in pod.Containers.Concat(pod.InitContainers ?? []))
            {
                // A Job (the migrations) runs to completion: nothing to probe.
                if (workload.Kind != "Job")
                {
                    Assert.NotNull(container.LivenessProbe);
                    Assert.NotNull(container.ReadinessProbe);
                }
                var security = container.SecurityContext;
                Assert.True(security?.AllowPrivilegeEscalation == false, $"{where}: allowPrivilegeEscalation");
                Assert.True(security?.ReadOnlyRootFilesystem == true, $"{where}: readOnlyRootFilesystem");
                Assert.True(security?.Privileged != true, $"{where}: privileged");
                Assert.Equal(["ALL"], security?.Capabilities?.Drop ?? []);
                Assert.Null(security?.Capabilities?.Add);
                foreach (var resource in new[] { "cpu", "memory" })
                {
                    Assert.True(container.Resources?.Requests?.ContainsKey(resource) == true, $"{where}: {resource} request");
                    Assert.True(container.Resources?.Limits?.ContainsKey(resource) == true, $"{where}: {resource} limit");
                }
                // A read-only root needs a writable /tmp.
                var tmp = container.VolumeMounts?.SingleOrDefault(m => m.MountPath == "/tmp");
                Assert.True(tmp is not null && pod.Volumes!.Single(v => v.Name == tmp.Name).EmptyDir is not null, $"{where}: /tmp emptyDir");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Services_are_probed_on_their_health_endpoints_and_scraped_on_port_http(string overlay)
    {
        var objects = Repo.Objects(overlay);
        foreach (var name in Workloads.Projects(Repo.Manifest).Where(n => !Policy.ForService(n).RunsToCompletion))
        {
            var pod = Workloads.Of(objects, name);
            var container = pod.Spec.Containers.Single(c => c.Name == name);
            Assert.Equal("/health", container.LivenessProbe.HttpGet.Path);
            Assert.Equal("/health/ready", container.ReadinessProbe.HttpGet.Path);
            Assert.Contains(container.Ports, p => p.Name == "http" && p.ContainerPort == 8080);
            // The spec's scrape config and LogQL ({namespace="agent-bus", component="api"}) and
            // k8s/monitoring's PodMonitor select on these.
            Assert.Equal(name, pod.Metadata.Labels["component"]);
            Assert.Equal(name, pod.Metadata.Labels["app.kubernetes.io/component"]);
            Assert.Equal(name, pod.Metadata.Labels["app.kubernetes.io/name"]);
            Assert.Equal(Policy.PartOf, pod.Metadata.Labels["app.kubernetes.io/part-of"]);
            Assert.Equal(pod.Spec.SecurityContext.RunAsUser, Policy.DotnetUid);
        }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_web_runs_like_the_api_hardened_autoscaled_and_budgeted(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var deployment = objects.Single(o => o is { Kind: "Deployment", Name: "web" }).As<V1Deployment>();
        var pod = deployment.Spec.Template.Spec;
        var container = pod.Containers.Single(c => c.Name == "web");
        Assert.Equal(Policy.DotnetUid, pod.SecurityContext.RunAsUser);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal("/health", container.StartupProbe.HttpGet.Path);
        Assert.Equal("/health", container.LivenessProbe.HttpGet.Path);
        Assert.Equal("/health/ready", container.ReadinessProbe.HttpGet.Path);
        foreach (var resource in new[] { "cpu", "memory" })
            Assert.True(container.Resources.Requests.ContainsKey(resource) && container.Resources.Limits.ContainsKey(resource), resource);

        // The same hardening and probes as the api, field for field.
        var api = Workloads.Of(objects, "api").Spec;
        var apiContainer = api.Containers.Single(c => c.Name == "api");
        Assert.Equal(KubernetesYaml.Serialize(api.SecurityContext), KubernetesYaml.Serialize(pod.SecurityContext));
        Assert.Equal(KubernetesYaml.Serialize(apiContainer.SecurityContext), KubernetesYaml.Serialize(container.SecurityContext));
        foreach (var probe in new Func<V1Container, V1Probe>[] { c => c.StartupProbe, c => c.LivenessProbe, c => c.ReadinessProbe })
            Assert.Equal(KubernetesYaml.Serialize(probe(apiContainer)), KubernetesYaml.Serialize(probe(container)));

        // An HPA owns the replica count, a PDB keeps node drains from taking every replica, and the
        // Service selects the pods on port http.
        Assert.Null(deployment.Spec.Replicas);
        var labels = deployment.Spec.Template.Metadata.Labels;
        var hpa = objects.Single(o => o is { Kind: "HorizontalPodAutoscaler", Name: "web" }).As<V2HorizontalPodAutoscaler>();
        Assert.Equal(("Deployment", "web"), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        var pdb = objects.Single(o => o is { Kind: "PodDisruptionBudget", Name: "web" }).As<V1PodDisruptionBudget>();
        Assert.True(Workloads.Matches(pdb.Spec.Selector.MatchLabels, labels));
        var service = objects.Single(o => o is { Kind: "Service", Name: "web" }).As<V1Service>();
        Assert.True(Workloads.Matches(service.Spec.Selector, labels));
        Assert.Contains(service.Spec.Ports, p => p is { Name: "http", Port: AspireManifest.ProjectPort });
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_web_calls_the_api_at_its_in_cluster_url_and_reads_redis_through_the_secret(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var container = Workloads.Of(objects, "web").Spec.Containers.Single(c => c.Name == "web");
        var settings = Workloads.Settings(objects, container);

        // {api.bindings.http.url} resolves to the api's Service; the https endpoint is not served in
        // the cluster, so service discovery ("https+http://api") has only http to take.
        Assert.Equal($"http://api:{Workloads.ServicePort(objects, "api")}", settings["services__api__http__0"]);
        Assert.DoesNotContain(container.Env, e => e.Name == "services__api__https__0");
        Assert.DoesNotContain("services__api__https__0", settings.Keys);

        var password = container.Env.Single(e => e.Name == "REDIS_PASSWORD").ValueFrom.SecretKeyRef;
        Assert.Equal((Policy.SecretName, "redis-password"), (password.Name, password.Key));
        Assert.Equal($"redis:{Workloads.ServicePort(objects, "redis")},password=$(REDIS_PASSWORD)", container.Env.Single(e => e.Name == "ConnectionStrings__redis").Value);
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void The_app_lives_in_namespace_agent_bus_and_the_monitoring_objects_in_monitoring(string overlay)
    {
        foreach (var o in Repo.Objects(overlay).Where(o => o.Model is not V1Namespace))
        {
            var metadata = ((IMetadata<V1ObjectMeta>)o.Model).Metadata;
            var expected = Label(metadata, "app.kubernetes.io/component") == "monitoring"
                || o.ApiVersion.StartsWith("monitoring.coreos.com/", StringComparison.Ordinal)
                || metadata.Labels?.ContainsKey("grafana_dashboard") == true
                || o.Name.StartsWith("alertmanager-", StringComparison.Ordinal)
                ? "monitoring" : Policy.Namespace;
            Assert.True(metadata.NamespaceProperty == expected, $"{o.Kind} {o.Name} is in namespace {metadata.NamespaceProperty}, not {expected}");
            Assert.True(Label(metadata, "app.kubernetes.io/part-of") == Policy.PartOf, $"{o.Kind} {o.Name}: no part-of label");
        }
    }

    private static string? Label(V1ObjectMeta metadata, string key) =>
        metadata.Labels is { } labels && labels.TryGetValue(key, out var value) ? value : null;

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Postgres_and_redis_keep_their_data_on_persistent_volumes(string overlay)
    {
        foreach (var statefulSet in Repo.Objects(overlay).Where(o => o.Kind == "StatefulSet").Select(o => o.As<V1StatefulSet>()))
        {
            var claims = statefulSet.Spec.VolumeClaimTemplates;
            Assert.NotEmpty(claims);
            var mounts = statefulSet.Spec.Template.Spec.Containers.Single().VolumeMounts;
            Assert.All(claims, c => Assert.Contains(mounts, m => m.Name == c.Metadata.Name));
            Assert.Equal(statefulSet.Metadata.Name, statefulSet.Spec.ServiceName);
        }
    }

    [Fact]
    public void The_gpu_agent_runs_on_every_gpu_node_and_sees_all_its_gpus()
    {
        var daemonSet = Repo.Objects("prod").Single(o => o is { Kind: "DaemonSet", Name: "gpu-agent" }).As<V1DaemonSet>();
        var pod = daemonSet.Spec.Template.Spec;
        Assert.Equal("true", pod.NodeSelector[Policy.GpuNodeLabel]);
        Assert.Contains(pod.Tolerations, t => t.Key == Policy.GpuResource && t.OperatorProperty == "Exists");
        var container = pod.Containers.Single();
        Assert.Contains(container.Env, e => e is { Name: "NVIDIA_VISIBLE_DEVICES", Value: "all" });
        // Deliberately no nvidia.com/gpu request: see GpuPlacement in K8sGenerator.
        Assert.False(container.Resources.Limits.ContainsKey(Policy.GpuResource));
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Services_ingress_autoscalers_and_budgets_point_at_existing_objects(string overlay)
    {
        var objects = Repo.Objects(overlay);
        var pods = Workloads.All(objects).Select(w => w.Template.Metadata.Labels).ToList();
        bool Selects(IDictionary<string, string> selector) => pods.Any(labels => Workloads.Matches(selector, labels));

        foreach (var service in objects.Where(o => o.Kind == "Service").Select(o => o.As<V1Service>()))
            Assert.True(Selects(service.Spec.Selector), $"Service {service.Metadata.Name} selects no pod");
        foreach (var pdb in objects.Where(o => o.Kind == "PodDisruptionBudget").Select(o => o.As<V1PodDisruptionBudget>()))
            Assert.True(Selects(pdb.Spec.Selector.MatchLabels), $"PDB {pdb.Metadata.Name} selects no pod");
        foreach (var hpa in objects.Where(o => o.Kind == "HorizontalPodAutoscaler").Select(o => o.As<V2HorizontalPodAutoscaler>()))
        {
            var target = objects.Single(o => o.Kind == hpa.Spec.ScaleTargetRef.Kind && o.Name == hpa.Spec.ScaleTargetRef.Name);
            Assert.Null(target.As<V1Deployment>().Spec.Replicas); // the HPA alone sets the count
            Assert.True(hpa.Spec.MinReplicas <= hpa.Spec.MaxReplicas);
        }
        foreach (var ingress in objects.Where(o => o.Kind == "Ingress").Select(o => o.As<V1Ingress>()))
            foreach (var path in ingress.Spec.Rules.SelectMany(r => r.Http.Paths))
            {
                var service = objects.Single(o => o.Kind == "Service" && o.Name == path.Backend.Service.Name).As<V1Service>();
                Assert.Contains(service.Spec.Ports, p => p.Name == path.Backend.Service.Port.Name);
            }
    }

    [Fact]
    public void Prod_runs_pinned_images_from_a_registry()
    {
        foreach (var (workload, template) in Workloads.All(Repo.Objects("prod")))
            foreach (var container in template.Spec.Containers)
            {
                var tag = container.Image.Split('/')[^1].Split(':').ElementAtOrDefault(1);
                Assert.False(tag is null or "latest" or "dev", $"{workload.Name}: image {container.Image} has no pinned tag");
                Assert.Contains('.', container.Image.Split('/')[0]); // a registry host, not a local name
            }
    }

    [Theory]
    [MemberData(nameof(Repo.Overlays), MemberType = typeof(Repo))]
    public void Redis_never_evicts_and_its_memory_limit_fits_in_its_container(string overlay)
    {
        // Queues, dead letters and the web app's Data Protection keys live in Redis: an eviction
        // policy would drop them silently. noeviction refuses writes at maxmemory instead.
        var redis = Workloads.Of(Repo.Objects(overlay), "redis").Spec.Containers.Single();
        var command = string.Join(' ', redis.Args);
        Assert.Contains("--maxmemory-policy noeviction", command, StringComparison.Ordinal);
        var maxmemory = System.Text.RegularExpressions.Regex.Match(command, @"--maxmemory (\d+)mb");
        Assert.True(maxmemory.Success, $"no --maxmemory <n>mb in: {command}");
        var bytes = long.Parse(maxmemory.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * 1024 * 1024;
        // Headroom for the fork that rewrites the append-only file or saves a snapshot.
        Assert.True(bytes <= redis.Resources.Limits["memory"].ToInt64() * 3 / 4, $"maxmemory {bytes} B against a limit of {redis.Resources.Limits["memory"]}");
    }
}
