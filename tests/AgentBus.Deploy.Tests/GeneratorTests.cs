using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace AgentBus.Deploy.Tests;

/// <summary>The generator: reproducible, driven by the manifest, loud about what it cannot map.</summary>
public class GeneratorTests
{
    [Fact]
    public void Regenerating_from_the_manifest_reproduces_the_committed_files()
    {
        var generated = K8sGenerator.Generate(Repo.Manifest);
        var committed = K8sGenerator.OwnedFolders
            .SelectMany(folder => Directory.Exists(Path.Combine(Repo.K8s, folder))
                ? Directory.EnumerateFiles(Path.Combine(Repo.K8s, folder), "*", SearchOption.AllDirectories)
                : [])
            .Select(f => Path.GetRelativePath(Repo.K8s, f).Replace('\\', '/'))
            .Concat(K8sGenerator.OwnedFiles)
            .Order(StringComparer.Ordinal).ToList();

        Assert.Equal(generated.Keys.Order(StringComparer.Ordinal), committed);
        foreach (var (path, content) in generated)
            Assert.True(content == File.ReadAllText(Path.Combine(Repo.K8s, path)),
                $"k8s/{path} differs from the manifest's: run scripts/generate-k8s.sh");
    }

    [Fact]
    public void Generated_objects_round_trip_through_strict_deserialization()
    {
        foreach (var (path, content) in K8sGenerator.Generate(Repo.Manifest)
                     .Where(f => f.Key.StartsWith("base/", StringComparison.Ordinal) && !f.Key.EndsWith("kustomization.yaml", StringComparison.Ordinal)
                         && !f.Key.Contains($"/{Policy.ExporterFilesFolder}/", StringComparison.Ordinal))) // an exporter's own configuration
        {
            var parsed = RenderedObject.Parse(content);
            Assert.True(content.EndsWith(KubernetesYaml.Serialize(parsed.Model).TrimEnd('\n') + "\n", StringComparison.Ordinal), path);
        }
    }

    [Fact]
    public void New_settings_and_secret_parameters_in_the_manifest_reach_the_right_places()
    {
        var json = JsonNode.Parse(File.ReadAllText(Repo.ManifestPath))!.AsObject();
        var resources = json["resources"]!.AsObject();
        resources["api-key"] = Parameter(secret: true, generate: true);
        resources["llm-key"] = Parameter(secret: true, generate: false);
        resources["llm-model"] = JsonNode.Parse("""
            {"type":"parameter.v0","value":"{llm-model.inputs.value}","inputs":{"value":{"type":"string","default":{"value":"claude-sonnet"}}}}
            """);
        var env = resources["api"]!["env"]!.AsObject();
        env["AgentBus__Auth__AdminKey"] = "{api-key.value}";
        env["AgentBus__Llm__ApiKey"] = "{llm-key.value}";
        env["AgentBus__Llm__Model"] = "{llm-model.value}";
        env["AgentBus__Llm__Endpoint"] = "http://llm:8000/v1?key={llm-key.value}";
        env["AgentBus__Worker__Concurrency"] = "4";

        var files = K8sGenerator.Generate(new AspireManifest(resources));
        var kustomization = files["base/api/kustomization.yaml"];
        Assert.Contains("AgentBus__Worker__Concurrency=4", kustomization, StringComparison.Ordinal);
        Assert.Contains("AgentBus__Llm__Model=claude-sonnet", kustomization, StringComparison.Ordinal);
        Assert.DoesNotContain("key", kustomization.Split("configMapGenerator")[1], StringComparison.OrdinalIgnoreCase);

        var container = RenderedObject.Parse(files["base/api/deployment.yaml"]).As<V1Deployment>().Spec.Template.Spec.Containers[0];
        Assert.Equal("api-key", container.Env.Single(e => e.Name == "AgentBus__Auth__AdminKey").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("llm-key", container.Env.Single(e => e.Name == "AgentBus__Llm__ApiKey").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("http://llm:8000/v1?key=$(AgentBus__Llm__ApiKey)", container.Env.Single(e => e.Name == "AgentBus__Llm__Endpoint").Value);

        var secrets = files["secrets/kustomization.yaml"];
        Assert.Contains("- api-key", secrets, StringComparison.Ordinal);
        Assert.Contains("- llm-key", secrets, StringComparison.Ordinal);
        Assert.DoesNotContain("llm-model", secrets, StringComparison.Ordinal);

        // Dev secrets: a random value where the model generates one, an empty file to fill in otherwise.
        var dir = Repo.TempDir();
        try
        {
            var lines = DevSecrets.Write(new AspireManifest(resources), dir).ToList();
            Assert.Matches("^[A-Za-z0-9]{32}$", File.ReadAllText(Path.Combine(dir, "api-key")));
            Assert.Equal("", File.ReadAllText(Path.Combine(dir, "llm-key")));
            Assert.Contains(lines, l => l.StartsWith("EMPTY", StringComparison.Ordinal) && l.Contains("llm-key", StringComparison.Ordinal));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static JsonNode Parameter(bool secret, bool generate)
    {
        var input = new JsonObject { ["type"] = "string", ["secret"] = secret };
        if (generate) input["default"] = new JsonObject { ["generate"] = new JsonObject { ["minLength"] = 22 } };
        return new JsonObject { ["type"] = "parameter.v0", ["inputs"] = new JsonObject { ["value"] = input } };
    }

    [Theory]
    [InlineData("{api.bindings.https.targetPort}")]
    [InlineData("{redis.bindings.tcp.certificate}")]
    [InlineData("{nowhere.connectionString}")]
    [InlineData("{postgres.containerImage}")]
    // Only service discovery's own variable for an unserved https endpoint is dropped (web's
    // services__api__https__0); the same URL elsewhere, or a binding the model lacks, still stops it.
    [InlineData("{api.bindings.https.url}")]
    [InlineData("{api.bindings.htps.url}", "services__api__htps__0")]
    public void The_generator_refuses_an_expression_it_cannot_map(string expression, string variable = "SOMETHING")
    {
        var resources = JsonNode.Parse(File.ReadAllText(Repo.ManifestPath))!["resources"]!.AsObject();
        resources["worker"]!["env"]!.AsObject()[variable] = expression;
        Assert.Throws<InvalidDataException>(() => K8sGenerator.Generate(new AspireManifest(resources)));
    }

    [Fact]
    public void Container_props_builds_the_images_the_manifests_run()
    {
        var props = XDocument.Load(Path.Combine(Repository.Root, "src", "Container.props"));
        var repositories = props.Descendants("ContainerRepository").ToDictionary(
            e => e.Parent!.Attribute("Condition")!.Value.Split('\'')[3], // '$(MSBuildProjectName)' == 'X'
            e => e.Value);
        var objects = Repo.Objects("dev");
        foreach (var name in Workloads.Projects(Repo.Manifest))
        {
            var project = Path.GetFileNameWithoutExtension((string)Repo.Manifest[name]["path"]!);
            Assert.True(repositories.TryGetValue(project, out var repository), $"src/Container.props has no image for {project}");
            var image = Workloads.Of(objects, name).Spec.Containers[0].Image;
            Assert.Equal($"{repository}:dev", image);
        }
        Assert.Equal(Policy.DotnetUid.ToString(System.Globalization.CultureInfo.InvariantCulture), props.Descendants("ContainerUser").Single().Value);
        Assert.Equal("8080", props.Descendants("ContainerPort").Single().Attribute("Include")!.Value);
        Assert.Equal("dev", props.Descendants("ContainerImageTag").Single().Value);
    }
}
