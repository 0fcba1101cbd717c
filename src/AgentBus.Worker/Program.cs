using AgentBus;
using AgentBus.Worker.Recovery;
using AgentBus.Worker.Retention;
using AgentBus.Worker.Webhooks;

// The worker runs agent stages from the cpu queue; it also re-enqueues stages whose tasks Redis
// lost, moves GPU work to cpu when no GPU node is left, deletes what retention no longer
// keeps and delivers webhooks. It is a web host so it can serve health and metrics.
const string component = "worker";
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(component);
builder.AddAgentBusJobs(component);
builder.AddStageConsumer();
builder.AddStageReconciler();
builder.AddGpuQueueFallback();
builder.AddRetentionSweeper();
builder.AddWebhookDispatcher();

var app = builder.Build();
app.UseAgentBusHttpMetrics();
app.MapDefaultEndpoints();
app.Run();
