using AgentBus.Gpu;

namespace AgentBus.Api.Gpu;

public sealed record GpuNodeList(IReadOnlyList<GpuNodeStatus> Items, int Total, int GpuCount, int FreeSlots);
