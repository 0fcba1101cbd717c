using AgentBus;
using AgentBus.GpuAgent;

// --gpu-check compares NVML with nvidia-smi on this machine and exits (scripts/gpu-check.sh).
if (args.Contains(GpuCheck.Flag))
{
    return await GpuCheck.RunAsync("nvidia-smi", Console.Out);
}

// The gpu-agent: reports its node's GPUs (metrics and a heartbeat in Redis) and runs the stages of
// GPU-routed jobs from the gpu queue, each on a leased GPU. With no GPU it is ready, reports zero
// GPUs and takes no work.
const string component = "gpu-agent";
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(component);
builder.AddAgentBusJobs(component);
builder.AddStageConsumer();
builder.AddGpuAgent();

var app = builder.Build();
app.UseAgentBusHttpMetrics();
app.MapDefaultEndpoints();
await app.RunAsync();
return 0;
