using AgentBus.Api.Security;
using AgentBus.Gpu;
using Microsoft.AspNetCore.Http.HttpResults;
using StackExchange.Redis;

namespace AgentBus.Api.Gpu;

public sealed record GpuNodeList(IReadOnlyList<GpuNodeStatus> Items, int Total, int GpuCount, int FreeSlots);
