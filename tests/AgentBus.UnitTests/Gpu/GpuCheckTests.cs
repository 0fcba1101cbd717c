using System.Diagnostics;

namespace AgentBus.UnitTests.Gpu;

/// <summary>
/// The gpu-agent's --gpu-check (what scripts/gpu-check.sh runs on a GPU machine) against
/// tests/fixtures/gpu/fake-nvml.c, which serves the recorded two-H100 node through NVML's C ABI,
/// and a nvidia-smi that prints the same recording. This runs the real P/Invoke path: library
/// loading, entry points, struct layouts, string buffers, the v2 memory query, error strings.
/// Linux only, as NVML's .so is.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class GpuCheckTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("agentbus-fake-nvml-").FullName;

    public GpuCheckTests()
    {
        Run("cc", ["-shared", "-fPIC", "-Wall", "-Werror", "-o", Path.Combine(_dir, "libnvidia-ml.so.1"),
            Path.Combine(Repository.Root, "tests", "fixtures", "gpu", "fake-nvml.c")], []);
        var smi = Path.Combine(_dir, "nvidia-smi");
        File.WriteAllText(smi, "#!/bin/sh\ncat \"$FAKE_NVML_CSV\"\n");
        File.SetUnixFileMode(smi, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public void Nvml_and_nvidia_smi_agree_on_the_recorded_node()
    {
        var (exit, output) = GpuCheck([]);

        Assert.True(exit == 0, output);
        Assert.Contains("driver 550.54.15 (fake-nvml): 2 GPU(s)", output, StringComparison.Ordinal);
        // count, then per GPU: uuid, index, name and five measured fields
        Assert.Equal(1 + 2 * 8, output.Split('\n').Count(l => l.StartsWith("ok   gpu", StringComparison.Ordinal)));
        // v1 would add the 593 MiB the fake driver reserves: the agent must read memory through _v2, as nvidia-smi does.
        Assert.Contains("memory.used      nvml 15362 MiB", output, StringComparison.Ordinal);
        Assert.Contains("power.draw       nvml 182.34 W", output, StringComparison.Ordinal);
        Assert.EndsWith("PASS NVML and nvidia-smi agree", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_reading_beyond_tolerance_fails_the_check_and_is_shown()
    {
        var (exit, output) = GpuCheck([("FAKE_NVML_POWER_OFFSET_W", "40")]);

        Assert.Equal(1, exit);
        Assert.Contains("DIFF gpu 0   power.draw       nvml 222.34 W", output, StringComparison.Ordinal);
        Assert.Contains("DIFF gpu 1   power.draw       nvml 111.02 W", output, StringComparison.Ordinal);
        Assert.Contains("ok   gpu 0   temperature.gpu", output, StringComparison.Ordinal);
        Assert.EndsWith("FAIL NVML and nvidia-smi disagree (DIFF lines above)", output.TrimEnd(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_driver_that_does_not_initialise_is_reported_not_crashed_on()
    {
        var (exit, output) = GpuCheck([("FAKE_NVML_INIT_ERROR", "9")]);

        Assert.Equal(2, exit);
        Assert.Equal("FAIL NVML: nvmlInit_v2 failed: Driver Not Loaded (9)", output.Trim());
    }

    private (int Exit, string Output) GpuCheck(IEnumerable<(string, string)> extra)
    {
        // The gpu-agent built in the configuration these tests were built in (bin/<configuration>/net10.0/).
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var agent = Path.Combine(Repository.Root, "src", "AgentBus.GpuAgent", "bin", configuration, "net10.0", "AgentBus.GpuAgent.dll");
        return Run("dotnet", [agent, "--gpu-check"],
        [
            ("LD_LIBRARY_PATH", _dir),
            ("PATH", $"{_dir}:{Environment.GetEnvironmentVariable("PATH")}"),
            ("FAKE_NVML_CSV", Path.Combine(Repository.Root, "tests", "fixtures", "gpu", "two-h100.csv")),
            .. extra,
        ]);
    }

    private static (int Exit, string Output) Run(string command, IEnumerable<string> args, IEnumerable<(string Name, string Value)> environment)
    {
        var start = new ProcessStartInfo(command, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), $"{command} did not finish");
        Assert.True(command != "cc" || process.ExitCode == 0, $"cc failed: {stderr.Result}");
        return (process.ExitCode, stdout + stderr.Result);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
